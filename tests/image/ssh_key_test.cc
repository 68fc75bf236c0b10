// Ed25519Key: generated in-process, written in OpenSSH's and dropbear's
// formats; each file is checked by the tools that read it (libssh, OpenSSH's
// ssh-keygen, dropbear's dropbearkey and dropbearconvert).
#include "image/ssh_key.h"

#include <gtest/gtest.h>
#include <libssh/libssh.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "base/check.h"
#include "sys/runner.h"

namespace warren {
namespace {

namespace fs = std::filesystem;

class KeyFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = (fs::temp_directory_path() / "warren-key-test-XXXXXX").string();
    CHECK(mkdtemp(t.data()) != nullptr);
    dir_ = t;
    Result<Ed25519Key> key = Ed25519Key::Generate("warren-host-web");
    ASSERT_TRUE(key.ok()) << key.error().ToString();
    key_.emplace(*key);
    Write("openssh", key_->OpensshPrivateFile());
    Write("dropbear", key_->DropbearPrivateFile());
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& data) {
    std::ofstream(dir_ / name, std::ios::binary) << data;
    fs::permissions(dir_ / name, fs::perms::owner_read | fs::perms::owner_write);
  }
  std::string Run(std::vector<std::string> argv) {
    RunSpec spec;
    spec.argv = std::move(argv);
    spec.timeout = std::chrono::seconds(30);
    Result<std::string> out = RunAndCheck(runner_, spec);
    EXPECT_TRUE(out.ok()) << out.error().ToString();
    return out.ok() ? *out : "";
  }
  // "ssh-ed25519 AAAA..." without the comment.
  std::string TypeAndBlob(std::string line) {
    size_t second = line.find(' ', line.find(' ') + 1);
    line = line.substr(0, second);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    return line;
  }

  fs::path dir_;
  std::optional<Ed25519Key> key_;
  RealRunner runner_;
};

TEST_F(KeyFiles, FreshKeysAreDistinctAndWellFormed) {
  Result<Ed25519Key> other = Ed25519Key::Generate("other");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(key_->seed().size(), 32u);
  EXPECT_EQ(key_->public_bytes().size(), 32u);
  EXPECT_NE(key_->seed(), other->seed());
  EXPECT_EQ(key_->OpensshPublicLine().rfind("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 0), 0u);
  EXPECT_EQ(key_->OpensshPublicLine().substr(key_->OpensshPublicLine().rfind(' ')),
            " warren-host-web");
  // Deterministic from the seed.
  Result<Ed25519Key> again = Ed25519Key::FromSeed(key_->seed(), "warren-host-web");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->OpensshPrivateFile(), key_->OpensshPrivateFile());
}

TEST_F(KeyFiles, BadInputsAreRefused) {
  EXPECT_EQ(Ed25519Key::Generate("two\nlines").error().code(), Code::kInvalidArgument);
  EXPECT_EQ(Ed25519Key::FromSeed("short", "c").error().code(), Code::kInvalidArgument);
}

TEST_F(KeyFiles, LibsshReadsTheOpensshFile) {
  ssh_key parsed = nullptr;
  ASSERT_EQ(ssh_pki_import_privkey_base64(key_->OpensshPrivateFile().c_str(), nullptr, nullptr,
                                          nullptr, &parsed),
            SSH_OK);
  EXPECT_EQ(ssh_key_type(parsed), SSH_KEYTYPE_ED25519);
  char* pub = nullptr;
  ASSERT_EQ(ssh_pki_export_pubkey_base64(parsed, &pub), SSH_OK);
  EXPECT_EQ("ssh-ed25519 " + std::string(pub), TypeAndBlob(key_->OpensshPublicLine()));
  ssh_string_free_char(pub);
  ssh_key_free(parsed);
}

TEST_F(KeyFiles, OpensshDerivesTheSamePublicKey) {
  std::string out = Run({"ssh-keygen", "-y", "-f", (dir_ / "openssh").string()});
  EXPECT_EQ(TypeAndBlob(out), TypeAndBlob(key_->OpensshPublicLine())) << out;
}

TEST_F(KeyFiles, DropbearReadsItsFileAndAgreesWithDropbearconvert) {
  // dropbearkey -y prints "Public key portion is:", the key line, a fingerprint.
  std::string out = Run({"dropbearkey", "-y", "-f", (dir_ / "dropbear").string()});
  size_t at = out.find("ssh-ed25519 ");
  ASSERT_NE(at, std::string::npos) << out;
  EXPECT_EQ(TypeAndBlob(out.substr(at)), TypeAndBlob(key_->OpensshPublicLine())) << out;

  Run({"dropbearconvert", "openssh", "dropbear", (dir_ / "openssh").string(),
       (dir_ / "converted").string()});
  std::ifstream in(dir_ / "converted", std::ios::binary);
  std::string converted((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(converted, key_->DropbearPrivateFile());
}

}  // namespace
}  // namespace warren
