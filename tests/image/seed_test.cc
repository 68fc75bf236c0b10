#include "image/seed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fakes/fake_runner.h"
#include "image/digest.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

RunResult Exit(int code, std::string out = "", std::string err = "") {
  RunResult r;
  r.exit_code = code;
  r.out = std::move(out);
  r.err = std::move(err);
  return r;
}

RunSpec Argv(std::vector<std::string> argv) {
  RunSpec spec;
  spec.argv = std::move(argv);
  return spec;
}

class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "warren-seed-test-XXXXXX").string();
    CHECK(mkdtemp(t.data()) != nullptr);
    path_ = t;
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A real key pair (ssh-keygen -t ed25519 -C web1) and what
// `dropbearconvert openssh dropbear` makes of its private half.
constexpr char kHostPrivate[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDNqHNT+Wk3GJK5Xu2xGTiQuFF48RJePzYMhIEu6tRt8gAAAIhx/3/Bcf9/\n"
    "wQAAAAtzc2gtZWQyNTUxOQAAACDNqHNT+Wk3GJK5Xu2xGTiQuFF48RJePzYMhIEu6tRt8g\n"
    "AAAEDxBphJ0UYnxWun5WDkJo2jXHf4Jvrgix2+XpX16Wnby82oc1P5aTcYkrle7bEZOJC4\n"
    "UXjxEl4/NgyEgS7q1G3yAAAABHdlYjEB\n"
    "-----END OPENSSH PRIVATE KEY-----\n";
constexpr char kHostPublic[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM2oc1P5aTcYkrle7bEZOJC4UXjxEl4/NgyEgS7q1G3y web1";
// The 32-byte Ed25519 seed inside kHostPrivate.
const std::string kHostSeed(
    "\xf1\x06\x98\x49\xd1\x46\x27\xc5\x6b\xa7\xe5\x60\xe4\x26\x8d\xa3\x5c\x77\xf8\x26\xfa"
    "\xe0\x8b\x1d\xbe\x5e\x95\xf5\xe9\x69\xdb\xcb",
    32);
constexpr char kHostDropbearBase64[] =
    "AAAAC3NzaC1lZDI1NTE5AAAAQPEGmEnRRifFa6flYOQmjaNcd/gm+uCLHb5elfXpadvLzahzU/"
    "lpNxiSuV7tsRk4kLhRePESXj82DISBLurUbfI=";

SeedSpec ValidSpec() {
  SeedSpec s;
  s.instance_id = "vm-1234";
  s.hostname = "web1";
  s.ip = "10.77.0.2";
  s.prefix = 24;
  s.gateway = "10.77.0.1";
  s.dns = "10.77.0.1";
  s.search_domain = "vm.warren";
  s.authorized_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIClient warren";
  Result<Ed25519Key> key = Ed25519Key::FromSeed(kHostSeed, "web1");
  CHECK(key.ok());
  s.host_key = *key;
  return s;
}

TEST(SeedTest, ValidSpecPasses) { EXPECT_TRUE(ValidateSeedSpec(ValidSpec()).ok()); }

TEST(SeedTest, RejectsBadFields) {
  auto expect_bad = [](auto mutate, const char* field) {
    SeedSpec s = ValidSpec();
    mutate(s);
    Status st = ValidateSeedSpec(s);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << field;
    EXPECT_THAT(st.message(), HasSubstr(field));
  };
  expect_bad([](SeedSpec& s) { s.hostname = "web_1"; }, "hostname");
  expect_bad([](SeedSpec& s) { s.ip = "10.0.0.256"; }, "ip");
  expect_bad([](SeedSpec& s) { s.prefix = 33; }, "prefix");
  expect_bad([](SeedSpec& s) { s.gateway = "gw"; }, "gateway");
  expect_bad([](SeedSpec& s) { s.search_domain = "a..b"; }, "search_domain");
  expect_bad([](SeedSpec& s) { s.authorized_key = "ssh-ed25519 A\nB"; }, "authorized_key");
  expect_bad([](SeedSpec& s) { s.authorized_key = "hello"; }, "authorized_key");
  expect_bad([](SeedSpec& s) { s.host_key.reset(); }, "host_key");
  expect_bad([](SeedSpec& s) { s.user_data = "echo hi"; }, "user_data");
  expect_bad([](SeedSpec& s) { s.instance_id = ""; }, "instance_id");
}

TEST(SeedTest, WarrenEnvGolden) {
  SeedSpec s = ValidSpec();
  auto files = SeedFiles(s);
  EXPECT_EQ(files.at("warren.env"),
            "HOSTNAME=web1\n"
            "ADDRESS=10.77.0.2/24\n"
            "GATEWAY=10.77.0.1\n"
            "DNS=10.77.0.1\n"
            "SEARCH=vm.warren\n"
            "AUTHORIZED_KEY=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIClient warren\n"
            "HOST_KEY_ED25519=" +
                Base64Encode(s.host_key->OpensshPrivateFile()) +
                "\n"
                "HOST_KEY_ED25519_PUB=" + kHostPublic + "\n");
  EXPECT_EQ(files.count("warren-user-data"), 0u);
}

// Golden: the key ssh-keygen made (kHostPrivate), rebuilt from its seed, gives
// the same public line, and the dropbear file dropbearconvert made of it.
TEST(SeedTest, HostKeyFromSeedMatchesSshKeygenAndDropbearconvert) {
  SeedSpec s = ValidSpec();
  EXPECT_EQ(s.host_key->OpensshPublicLine(), kHostPublic);
  EXPECT_EQ(Base64Encode(SeedFiles(s).at("dropbear_ed25519_host_key")), kHostDropbearBase64);
  // ssh-keygen's check words are random; everything else is the same bytes.
  EXPECT_EQ(s.host_key->OpensshPrivateFile().size(), std::string(kHostPrivate).size());
}

TEST(SeedTest, CloudInitFilesDescribeTheSameConfig) {
  SeedSpec s = ValidSpec();
  s.mac = "52:54:00:77:00:02";
  s.user_data = "#!/bin/sh\necho hi\n";
  auto files = SeedFiles(s);
  auto meta = nlohmann::json::parse(files.at("meta-data"));
  EXPECT_EQ(meta["instance-id"], "vm-1234");
  EXPECT_EQ(meta["local-hostname"], "web1");

  auto net = nlohmann::json::parse(files.at("network-config"));
  EXPECT_EQ(net["version"], 2);
  auto eth = net["ethernets"]["eth0"];
  EXPECT_EQ(eth["match"]["macaddress"], "52:54:00:77:00:02");
  EXPECT_EQ(eth["addresses"][0], "10.77.0.2/24");
  EXPECT_EQ(eth["routes"][0]["via"], "10.77.0.1");
  EXPECT_EQ(eth["nameservers"]["search"][0], "vm.warren");

  const std::string& ud = files.at("user-data");
  ASSERT_EQ(ud.rfind("#cloud-config\n", 0), 0u);
  auto cc = nlohmann::json::parse(ud.substr(ud.find('\n') + 1));
  EXPECT_EQ(cc["users"][0]["ssh_authorized_keys"][0], s.authorized_key);
  EXPECT_EQ(cc["ssh_keys"]["ed25519_private"], s.host_key->OpensshPrivateFile());
  EXPECT_EQ(cc["ssh_keys"]["ed25519_public"], kHostPublic);
  EXPECT_EQ(cc["write_files"][0]["content"], Base64Encode(s.user_data));
  EXPECT_EQ(files.at("warren-user-data"), s.user_data);
}

// ifupdown without resolvconf ignores the network-config's nameservers, so
// the cloud-config points /etc/resolv.conf at warren's DNS itself (bootcmd,
// every boot), unless a symlink or resolvconf owns it; no DNS, no entry.
TEST(SeedTest, CloudConfigPointsResolvConfAtWarrensDnsWhenNothingOwnsIt) {
  SeedSpec s = ValidSpec();
  const std::string ud = SeedFiles(s).at("user-data");
  auto cc = nlohmann::json::parse(ud.substr(ud.find('\n') + 1));
  ASSERT_EQ(cc["bootcmd"].size(), 1u) << cc.dump(2);
  const nlohmann::json& entry = cc["bootcmd"][0];
  EXPECT_EQ(entry, (nlohmann::json{
                       "sh", "-c",
                       "{ [ -L /etc/resolv.conf ] || command -v resolvconf >/dev/null; } && "
                       "exit 0; { echo \"nameserver $1\"; [ -z \"$2\" ] || echo \"search "
                       "$2\"; } >/etc/resolv.conf.warren && mv /etc/resolv.conf.warren "
                       "/etc/resolv.conf",
                       "warren-resolv-conf", "10.77.0.1", "vm.warren"}));
  s.dns.clear();
  const std::string none = SeedFiles(s).at("user-data");
  EXPECT_FALSE(nlohmann::json::parse(none.substr(none.find('\n') + 1)).contains("bootcmd"));
}

// Golden: the network-config every cloud-init from 20.x (Debian 11, Ubuntu
// 20.04) to 25.x accepts (docs/IMAGES.md, "Stock cloud images"). cloud-init
// 22.4 and 25.1 refused the old route `to: default` ("Address default is not
// a valid ip address") and then configured nothing; 20.4 mangled it.
TEST(SeedTest, NetworkConfigGolden) {
  SeedSpec s = ValidSpec();
  s.mac = "52:54:00:77:00:02";
  EXPECT_EQ(SeedFiles(s).at("network-config"), R"({
  "ethernets": {
    "eth0": {
      "addresses": [
        "10.77.0.2/24"
      ],
      "match": {
        "macaddress": "52:54:00:77:00:02"
      },
      "nameservers": {
        "addresses": [
          "10.77.0.1"
        ],
        "search": [
          "vm.warren"
        ]
      },
      "routes": [
        {
          "to": "0.0.0.0/0",
          "via": "10.77.0.1"
        }
      ],
      "set-name": "eth0"
    }
  },
  "version": 2
}
)");
}

TEST(SeedTest, NetworkConfigWithoutAddressOrMacUsesDhcpOnAnyEthernet) {
  SeedSpec s = ValidSpec();
  s.ip.clear();
  EXPECT_EQ(SeedFiles(s).at("network-config"), R"({
  "ethernets": {
    "eth0": {
      "dhcp4": true,
      "match": {
        "name": "e*"
      }
    }
  },
  "version": 2
}
)");
}

TEST(SeedTest, MetaDataAndUserDataGolden) {
  SeedSpec s = ValidSpec();
  auto files = SeedFiles(s);
  EXPECT_EQ(files.at("meta-data"), R"({"instance-id":"vm-1234","local-hostname":"web1"})" "\n");
  std::string ud = files.at("user-data");
  // The private key file (its check words are random) is golden elsewhere.
  std::string priv = nlohmann::json(s.host_key->OpensshPrivateFile()).dump();
  ASSERT_NE(ud.find(priv), std::string::npos);
  ud.replace(ud.find(priv), priv.size(), "\"PRIVATE\"");
  EXPECT_EQ(ud, std::string(R"(#cloud-config
{
  "bootcmd": [
    [
      "sh",
      "-c",
      "{ [ -L /etc/resolv.conf ] || command -v resolvconf >/dev/null; } && exit 0; { echo \"nameserver $1\"; [ -z \"$2\" ] || echo \"search $2\"; } >/etc/resolv.conf.warren && mv /etc/resolv.conf.warren /etc/resolv.conf",
      "warren-resolv-conf",
      "10.77.0.1",
      "vm.warren"
    ]
  ],
  "disable_root": false,
  "hostname": "web1",
  "ssh_deletekeys": true,
  "ssh_keys": {
    "ed25519_private": "PRIVATE",
    "ed25519_public": ")") + kHostPublic + R"("
  },
  "ssh_pwauth": false,
  "users": [
    {
      "name": "root",
      "ssh_authorized_keys": [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIClient warren"
      ]
    }
  ]
}
)");
}

TEST(SeedTest, WriteSeedIsoRunsGenisoimageWithCidataLabel) {
  TempDir dir;
  FakeRunner runner;
  std::vector<std::string> seen_files;
  runner.OnCall({"genisoimage"}, [&](const RunSpec& spec, std::stop_token) -> Result<RunResult> {
    for (const auto& e : fs::directory_iterator(spec.argv.back())) {
      seen_files.push_back(e.path().filename().string());
    }
    std::ofstream(spec.argv[3]) << "iso";
    return Exit(0);
  });
  fs::path out = dir.path() / "seed.iso";
  ASSERT_TRUE(WriteSeedIso(runner, ValidSpec(), out).ok());
  ASSERT_EQ(runner.calls().size(), 1u);
  auto argv = runner.calls()[0];
  EXPECT_THAT(argv, ::testing::ElementsAre("genisoimage", "-quiet", "-output", ::testing::_,
                                           "-volid", "cidata", "-joliet", "-rock", ::testing::_));
  std::sort(seen_files.begin(), seen_files.end());
  EXPECT_THAT(seen_files,
              ::testing::ElementsAre("dropbear_ed25519_host_key", "meta-data", "network-config",
                                     "user-data", "warren.env"));
  EXPECT_TRUE(fs::exists(out));
  // Only the ISO is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(SeedTest, WriteSeedIsoRefusesInvalidSpecWithoutRunning) {
  TempDir dir;
  FakeRunner runner;
  SeedSpec s = ValidSpec();
  s.hostname = "";
  EXPECT_EQ(WriteSeedIso(runner, s, dir.path() / "seed.iso").code(), Code::kInvalidArgument);
  EXPECT_TRUE(runner.calls().empty());
}

// Real tools: the volume label must be exactly what cloud-init looks for.
TEST(SeedTest, RealIsoHasCidataLabelAndFiles) {
  TempDir dir;
  RealRunner runner;
  Result<Ed25519Key> host = Ed25519Key::Generate("host");
  ASSERT_TRUE(host.ok()) << host.error().ToString();
  SeedSpec s = ValidSpec();
  s.host_key = *host;
  fs::path out = dir.path() / "seed.iso";
  ASSERT_TRUE(WriteSeedIso(runner, s, out).ok());
  Result<std::string> info = RunAndCheck(runner, Argv({"isoinfo", "-d", "-i", out}));
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_THAT(*info, HasSubstr("Volume id: cidata"));
  Result<std::string> ls = RunAndCheck(runner, Argv({"isoinfo", "-R", "-f", "-i", out}));
  ASSERT_TRUE(ls.ok());
  EXPECT_THAT(*ls, HasSubstr("/warren.env"));
  EXPECT_THAT(*ls, HasSubstr("/network-config"));
  EXPECT_THAT(*ls, HasSubstr("/dropbear_ed25519_host_key"));
}

TEST(DigestTest, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Base64Encode("hello"), "aGVsbG8=");
  TempDir dir;
  std::ofstream(dir.path() / "f") << "abc";
  Result<std::string> h = Sha256FileHex(dir.path() / "f");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, Sha256Hex("abc"));
  EXPECT_FALSE(Sha256FileHex(dir.path() / "missing").ok());
}

}  // namespace
}  // namespace warren
