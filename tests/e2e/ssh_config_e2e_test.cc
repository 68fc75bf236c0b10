// SSH with the user's own tools, end to end: a daemon in isolated mode whose
// socket belongs to a group made for the test (rpc.socket_group; the socket is 0660),
// one guest, and a non-root user in that group with a fresh key of their own.
// Through `warren ssh-config` (ProxyCommand `warren proxy %h 22`, the user's
// key authorized on first use, the pinned host keys in a known_hosts file,
// StrictHostKeyChecking yes) the user runs ssh, scp both ways and rsync -e ssh;
// `warren ssh VM -- CMD` runs the system ssh the same way. A user outside the
// group is refused by the socket, with the fix in the message.
//
// The users and the group get unique names and are removed in teardown (and
// by a reaper if the test process dies first).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "e2e/daemon_harness.h"
#include "sys/files.h"

namespace warren::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr char kVm[] = "sshvm";

class SshConfigE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/warren-ssh-e2e-XXXXXX";
    dir_ = new fs::path(::mkdtemp(tmpl));
    ::chmod(dir_->c_str(), 0755);
    const std::string n = std::to_string(::getpid());
    group_ = new std::string("wsg" + n);
    member_ = new std::string("wsu" + n);
    outsider_ = new std::string("wso" + n);
    reaper_ = new ReaperForTest(dir_->string());
    reaper_->AddCleanup("userdel " + *member_ + "; userdel " + *outsider_ + "; groupdel " + *group_);
    ASSERT_EQ(Root({"groupadd", *group_}).exit_code, 0);
    ASSERT_EQ(Root({"useradd", "-m", "-d", (*dir_ / "member").string(), "-s", "/bin/sh", "-N", "-g",
                    "users", "-G", *group_, *member_})
                  .exit_code,
              0);
    ASSERT_EQ(Root({"useradd", "-m", "-d", (*dir_ / "outsider").string(), "-s", "/bin/sh", "-N",
                    "-g", "users", *outsider_})
                  .exit_code,
              0);

    daemon_ = new WarrenDaemon("[rpc]\nsocket_group = \"" + *group_ +
                               "\"\n[network]\ntap_pool_size = 1\n");
    Status st = daemon_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
    // The users reach the socket through the daemon's temporary root.
    for (const fs::path& d : {daemon_->root(), daemon_->root() / "run"}) ::chmod(d.c_str(), 0711);
    st = daemon_->BuildDefaultImage();
    ASSERT_TRUE(st.ok()) << st.ToString();
    Result<json> vm = daemon_->CreateVm(kVm);
    ASSERT_TRUE(vm.ok()) << vm.status().ToString();
    InstallGuestTools();
    // The member's own key, made as the member.
    RunResult key = AsUser(*member_, "mkdir -p -m 700 .ssh; ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/id_ed25519");
    ASSERT_EQ(key.exit_code, 0) << key.err;
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
    if (member_ != nullptr) {
      (void)Root({"userdel", *member_});
      (void)Root({"userdel", *outsider_});
      (void)Root({"groupdel", *group_});
    }
    std::error_code ec;
    if (dir_ != nullptr) fs::remove_all(*dir_, ec);
    delete reaper_;
  }
  void SetUp() override { ASSERT_NE(daemon_, nullptr); }

  // The default image's SSH server is dropbear, without rsync, an scp or an
  // SFTP server; the guest runs the same Debian 12 as this host, whose rsync
  // needs only libpopt beyond what the guest has and whose scp needs libc.
  // Copying them in keeps the test to the cached image (no package download);
  // scp then speaks its original protocol (-O) instead of SFTP.
  static void InstallGuestTools() {
    const std::pair<const char*, const char*> files[] = {
        {"/usr/bin/rsync", "/usr/bin/rsync"},
        {"/usr/bin/scp", "/usr/bin/scp"},
        {"/lib/x86_64-linux-gnu/libpopt.so.0", "/usr/lib/x86_64-linux-gnu/libpopt.so.0"}};
    for (const auto& [from, to] : files) {
      Result<std::string> bytes = ReadFileToString(fs::canonical(from));
      ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
      RunResult r = daemon_->Cli(
          {"exec", kVm, "--", "sh", "-c", std::string("cat >") + to + " && chmod 755 " + to},
          *bytes);
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }

  static RunResult Root(const std::vector<std::string>& argv) {
    RealRunner runner;
    RunSpec spec;
    spec.argv = argv;
    spec.timeout = std::chrono::seconds(60);
    Result<RunResult> r = runner.Run(spec);
    return r.ok() ? *r : RunResult{-1, 0, "", r.error().ToString()};
  }

  // `script` in sh as `user` (its groups from /etc/group, HOME its home),
  // with $W the CLI aimed at the daemon's socket and $H the VM's SSH name.
  static RunResult AsUser(const std::string& user, const std::string& script) {
    const fs::path home = *dir_ / (user == *member_ ? "member" : "outsider");
    RealRunner runner;
    RunSpec spec;
    spec.argv = {"setpriv", "--reuid", user, "--regid", "users", "--init-groups", "env",
                 "-i",      "HOME=" + home.string(), "USER=" + user, "PATH=/usr/bin:/bin",
                 "W=" WARREN_BINARY " --socket " + (daemon_->root() / "run/warren.sock").string(),
                 "H=" + std::string(kVm) + ".warren.internal", "sh", "-ec", "cd; " + script};
    spec.timeout = std::chrono::minutes(3);
    Result<RunResult> r = runner.Run(spec);
    return r.ok() ? *r : RunResult{-1, 0, "", r.error().ToString()};
  }
  static RunResult AsMember(const std::string& script) {
    return AsUser(*member_, "$W ssh-config >cfg; " + script);
  }

  static fs::path* dir_;
  static std::string *group_, *member_, *outsider_;
  static ReaperForTest* reaper_;
  static WarrenDaemon* daemon_;
};
fs::path* SshConfigE2eTest::dir_ = nullptr;
std::string* SshConfigE2eTest::group_ = nullptr;
std::string* SshConfigE2eTest::member_ = nullptr;
std::string* SshConfigE2eTest::outsider_ = nullptr;
ReaperForTest* SshConfigE2eTest::reaper_ = nullptr;
WarrenDaemon* SshConfigE2eTest::daemon_ = nullptr;

TEST_F(SshConfigE2eTest, SshRunsAsRootWithTheUsersKeyAndPinnedHostKey) {
  RunResult r = AsMember("cat cfg; ssh -F cfg -o BatchMode=yes \"$H\" 'id -u; uname -n'");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Host *.warren.internal\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" proxy %h 22\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("StrictHostKeyChecking yes\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n0\nsshvm\n"), std::string::npos) << r.out;
  // The key that got in is the member's own, and the daemon says who asked.
  RunResult pub = AsMember("cut -d' ' -f2 ~/.ssh/id_ed25519.pub");
  ASSERT_EQ(pub.exit_code, 0) << pub.err;
  RunResult keys = daemon_->Cli({"exec", kVm, "--", "cat", "/root/.ssh/authorized_keys"});
  EXPECT_NE(keys.out.find(pub.out.substr(0, pub.out.find('\n'))), std::string::npos) << keys.out;
  EXPECT_NE(daemon_->Log().find("asked by uid"), std::string::npos);
}

TEST_F(SshConfigE2eTest, AHostKeyNotPinnedIsRefused) {
  // The same proxy and key, but a known_hosts without the VM's key: ssh must
  // refuse, so the pinned file is what lets the first connection through.
  RunResult r = AsMember(
      ": >empty; ssh -F cfg -o BatchMode=yes -o UserKnownHostsFile=$HOME/empty \"$H\" true");
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.err.find("Host key verification failed"), std::string::npos) << r.err;
}

TEST_F(SshConfigE2eTest, ScpBothWays) {
  RunResult r = AsMember(
      "head -c 300000 /dev/urandom >f; scp -O -F cfg -o BatchMode=yes f \"$H\":/tmp/f; "
      "scp -O -F cfg -o BatchMode=yes \"$H\":/tmp/f back; cmp f back; echo same");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "same\n");
}

TEST_F(SshConfigE2eTest, RsyncATreeBothWays) {
  RunResult r = AsMember(
      "mkdir -p tree/a/b; echo one >tree/a/one; head -c 100000 /dev/urandom >tree/a/b/bin; "
      "ln -s a/one tree/link; "
      "rsync -a -e 'ssh -F cfg -o BatchMode=yes' tree/ \"$H\":/tmp/tree/; "
      "rsync -a -e 'ssh -F cfg -o BatchMode=yes' \"$H\":/tmp/tree/ tree-back/; "
      "diff -r --no-dereference tree tree-back; readlink tree-back/link");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "a/one\n");
}

TEST_F(SshConfigE2eTest, WarrenSshRunsTheSystemSsh) {
  RunResult r = AsUser(*member_, "$W ssh sshvm -- echo 'hi from' '$(uname -n)'");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "hi from sshvm\n");
  RunResult code = AsUser(*member_, "$W ssh sshvm -- exit 7 || echo \"exit $?\"");
  EXPECT_EQ(code.out, "exit 7\n") << code.err;
}

TEST_F(SshConfigE2eTest, AUserOutsideTheGroupIsRefusedBySocket) {
  RunResult r = AsUser(*outsider_, "$W vm ls");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("permission denied"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("usermod -aG " + *group_), std::string::npos) << r.err;
  RunResult member = AsUser(*member_, "$W vm ls");
  EXPECT_EQ(member.exit_code, 0) << member.err;
  EXPECT_NE(member.out.find(kVm), std::string::npos) << member.out;
}

}  // namespace
}  // namespace warren::e2e
