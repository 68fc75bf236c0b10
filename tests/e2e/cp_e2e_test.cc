// `warren cp` against a real guest (the default image: GNU tar and busybox),
// one VM boot: a file both ways (checksum, mode, mtime), a tree with a symlink
// and a sparse file (st_blocks stays small on both sides), "-" tar streams in
// and out, the busybox tar fallback and a guest without any tar, a missing
// source, a stopped VM.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "e2e/daemon_harness.h"
#include "image/digest.h"

namespace warren::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr char kVm[] = "cpvm";
constexpr int64_t kMtime = 1700000000;

class CpE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new WarrenDaemon("[network]\ntap_pool_size = 1\n");
    Result<json> vm = daemon_->StartWithVm(kVm);
    ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(daemon_, nullptr);
    char tmpl[] = "/tmp/warren-cp-e2e-XXXXXX";
    host_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(host_); }

  // A command in the guest through the CLI; its stdout.
  static std::string Guest(const std::string& script) {
    RunResult r = daemon_->Cli({"exec", kVm, "--", "sh", "-c", script});
    EXPECT_EQ(r.exit_code, 0) << script << "\n" << r.err;
    return r.out;
  }
  static RunResult Cp(const std::vector<std::string>& args, const std::string& in = "") {
    std::vector<std::string> argv = {"cp"};
    argv.insert(argv.end(), args.begin(), args.end());
    return daemon_->Cli(argv, in);
  }
  static void Write(const fs::path& p, const std::string& data, mode_t mode) {
    std::ofstream(p, std::ios::binary) << data;
    ::chmod(p.c_str(), mode);
    timeval tv[2] = {{kMtime, 0}, {kMtime, 0}};
    ::utimes(p.c_str(), tv);
  }
  static std::string Read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static struct stat Lstat(const fs::path& p) {
    struct stat st{};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st;
  }
  static std::string Line(const std::string& s) { return s.substr(0, s.find('\n')); }

  static WarrenDaemon* daemon_;
  fs::path host_;
};
WarrenDaemon* CpE2eTest::daemon_ = nullptr;

std::string Bytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 2654435761u) >> 13);
  return s;
}

TEST_F(CpE2eTest, FileBothWaysWithChecksumModeAndMtime) {
  const std::string data = Bytes(3 << 20);
  Write(host_ / "f.bin", data, 0640);
  RunResult up = Cp({(host_ / "f.bin").string(), std::string(kVm) + ":/root/"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(Line(Guest("sha256sum /root/f.bin | cut -d' ' -f1; stat -c '%a %Y' /root/f.bin")),
            Sha256Hex(data));
  EXPECT_EQ(Guest("stat -c '%a %Y' /root/f.bin"), "640 " + std::to_string(kMtime) + "\n");
  // Back under a new name (DST does not exist: docker cp renames).
  RunResult down = Cp({std::string(kVm) + ":/root/f.bin", (host_ / "back.bin").string()});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(Sha256Hex(Read(host_ / "back.bin")), Sha256Hex(data));
  EXPECT_EQ(Lstat(host_ / "back.bin").st_mode & 07777, 0640u);
  EXPECT_EQ(Lstat(host_ / "back.bin").st_mtime, kMtime);
}

TEST_F(CpE2eTest, TreeWithSymlinkAndSparseFileStaysSparse) {
  fs::create_directories(host_ / "t/sub");
  Write(host_ / "t/sub/a", "aaa\n", 0755);
  fs::create_symlink("sub/a", host_ / "t/link");
  int fd = ::open((host_ / "t/sparse").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  std::string chunk(8192, 'z');
  ASSERT_EQ(::pwrite(fd, chunk.data(), chunk.size(), 10 << 20), 8192);
  ASSERT_EQ(::ftruncate(fd, 256 << 20), 0);  // 256 MiB, 8 KiB of data
  ::close(fd);
  const std::string sum = Sha256Hex(Read(host_ / "t/sparse"));

  RunResult up = Cp({"-r", (host_ / "t").string(), std::string(kVm) + ":/root/t2"});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(Guest("readlink /root/t2/link"), "sub/a\n");
  EXPECT_EQ(Guest("cat /root/t2/link"), "aaa\n");
  EXPECT_EQ(Line(Guest("sha256sum /root/t2/sparse")).substr(0, 64), sum);
  EXPECT_EQ(Guest("stat -c %s /root/t2/sparse"), std::to_string(256 << 20) + "\n");
  int64_t guest_kib = std::stoll(Guest("du -k /root/t2/sparse | cut -f1"));
  EXPECT_LT(guest_kib, 1024) << "the guest's copy is not sparse";
  EXPECT_EQ(Guest("stat -c %a /root/t2/sub/a"), "755\n");

  RunResult down = Cp({"-r", std::string(kVm) + ":/root/t2", (host_ / "back").string()});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(fs::read_symlink(host_ / "back/link"), "sub/a");
  EXPECT_EQ(Read(host_ / "back/sub/a"), "aaa\n");
  EXPECT_EQ(Sha256Hex(Read(host_ / "back/sparse")), sum);
  EXPECT_LT(Lstat(host_ / "back/sparse").st_blocks * 512, 1 << 20) << "the host's copy is not sparse";
  // Without -r a directory is refused, naming it.
  RunResult no_r = Cp({std::string(kVm) + ":/root/t2", host_.string()});
  EXPECT_EQ(no_r.exit_code, 1);
  EXPECT_NE(no_r.err.find("/root/t2: is a directory (use -r)"), std::string::npos) << no_r.err;
}

TEST_F(CpE2eTest, TarStreamsInAndOut) {
  fs::create_directories(host_ / "src/d");
  Write(host_ / "src/d/x", "xx\n", 0600);
  Write(host_ / "src/y", "yy\n", 0644);
  ASSERT_EQ(std::system(("tar -C " + (host_ / "src").string() + " -cf " +
                         (host_ / "in.tar").string() + " d y").c_str()),
            0);
  Guest("rm -rf /root/in && mkdir /root/in");
  RunResult in = Cp({"-", std::string(kVm) + ":/root/in"}, Read(host_ / "in.tar"));
  ASSERT_EQ(in.exit_code, 0) << in.err;
  EXPECT_EQ(Guest("cat /root/in/d/x /root/in/y; stat -c %a /root/in/d/x"), "xx\nyy\n600\n");
  RunResult out = Cp({std::string(kVm) + ":/root/in", "-"});
  ASSERT_EQ(out.exit_code, 0) << out.err;
  std::ofstream(host_ / "out.tar", std::ios::binary) << out.out;
  fs::create_directories(host_ / "x");
  ASSERT_EQ(std::system(("tar -C " + (host_ / "x").string() + " -xf " + (host_ / "out.tar").string())
                            .c_str()),
            0);
  EXPECT_EQ(Read(host_ / "x/in/d/x"), "xx\n");
  EXPECT_EQ(Read(host_ / "x/in/y"), "yy\n");
  // "-" extracts into a directory only.
  RunResult not_dir = Cp({"-", std::string(kVm) + ":/root/in/y"}, Read(host_ / "in.tar"));
  EXPECT_EQ(not_dir.exit_code, 1);
  EXPECT_NE(not_dir.err.find(std::string(kVm) + ":/root/in/y: not a directory"), std::string::npos)
      << not_dir.err;
}

TEST_F(CpE2eTest, BusyboxTarAndAGuestWithoutTar) {
  // Hide GNU tar: cp falls back to busybox's applet.
  Guest("p=$(command -v tar) && echo \"$p\" > /root/tar.path && mv \"$p\" /root/tar.gnu");
  Write(host_ / "bb", "busybox\n", 0604);
  RunResult up = Cp({(host_ / "bb").string(), std::string(kVm) + ":/root/bb"});
  RunResult down = Cp({std::string(kVm) + ":/root/bb", (host_ / "bb-back").string()});
  // And with no tar at all, the error says what to install.
  Guest("mv /bin/busybox /root/busybox.hidden");
  RunResult none = Cp({(host_ / "bb").string(), std::string(kVm) + ":/root/"});
  Guest("mv /root/busybox.hidden /bin/busybox && mv /root/tar.gnu \"$(cat /root/tar.path)\"");
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(Guest("cat /root/bb; stat -c '%a %Y' /root/bb"),
            "busybox\n604 " + std::to_string(kMtime) + "\n");
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(Read(host_ / "bb-back"), "busybox\n");
  EXPECT_EQ(Lstat(host_ / "bb-back").st_mtime, kMtime);
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("has no tar: install one"), std::string::npos) << none.err;
  EXPECT_EQ(Guest("tar --version | head -n 1"), "tar (GNU tar) 1.34\n");
}

TEST_F(CpE2eTest, ErrorsNameThePathAndAStoppedVmIsRefused) {
  RunResult missing = Cp({std::string(kVm) + ":/root/nope", host_.string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find(std::string(kVm) + ":/root/nope: no such file or directory"),
            std::string::npos)
      << missing.err;
  RunResult local = Cp({(host_ / "absent").string(), std::string(kVm) + ":/root/"});
  EXPECT_EQ(local.exit_code, 1);
  EXPECT_NE(local.err.find((host_ / "absent").string() + ": no such file or directory"),
            std::string::npos);
  // Last: the VM stops.
  ASSERT_EQ(daemon_->Cli({"vm", "stop", kVm}).exit_code, 0);
  Write(host_ / "f", "f", 0644);
  RunResult stopped = Cp({(host_ / "f").string(), std::string(kVm) + ":/root/"});
  EXPECT_NE(stopped.exit_code, 0);
  EXPECT_NE(stopped.err.find(kVm), std::string::npos) << stopped.err;
  EXPECT_NE(stopped.err.find("not running"), std::string::npos) << stopped.err;
}

}  // namespace
}  // namespace warren::e2e
