// warren cp end to end without a VM: the guest's script runs in a local `sh`
// (GNU tar, or busybox's tar through a PATH that holds only that), the host
// side is the real cp_transfer + libarchive. The e2e test repeats the main
// cases in a real guest.
#include "cli/cp_transfer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <csignal>
#include <fstream>

namespace warren::cli::cp {
namespace {

namespace fs = std::filesystem;

// Runs run.argv with `sh` locally; `tar_dir` (if set) comes first in PATH.
Result<int> LocalExec(const GuestRun& run, const std::string& tar_dir) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return Internal("pipe");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(run.stdin_fd, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    if (!tar_dir.empty()) ::setenv("PATH", (tar_dir + ":/usr/bin:/bin").c_str(), 1);
    std::vector<char*> argv;
    for (const std::string& a : run.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(126);
  }
  ::close(out[1]);
  ::close(err[1]);
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open = 2;
  bool killed = false;
  while (open > 0) {
    if (::poll(fds, 2, 30000) <= 0) {  // the deadline: a stuck copy fails, never hangs
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[65536];
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
        continue;
      }
      if (!run.on_output(static_cast<uint8_t>(i + 1), {buf, static_cast<size_t>(n)}) && !killed) {
        ::kill(pid, SIGKILL);
        killed = true;
      }
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (killed) return Cancelled("killed");
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class CpTransferTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/warren-cp-test-XXXXXX";
    tmp_ = ::mkdtemp(tmpl);
    host_ = tmp_ / "host";
    guest_ = tmp_ / "guest";
    fs::create_directories(host_);
    fs::create_directories(guest_);
    if (std::string(GetParam()) == "busybox") {
      tar_dir_ = (tmp_ / "bin").string();
      fs::create_directories(tar_dir_);
      fs::create_symlink("/bin/busybox", tmp_ / "bin/tar");
    }
    exec_ = [this](const GuestRun& run) { return LocalExec(run, tar_dir_); };
  }
  void TearDown() override { fs::remove_all(tmp_); }

  Status Up(std::vector<std::string> args, bool recursive = true) {
    Result<Plan> plan = MakePlan(args);
    if (!plan.ok()) return plan.error();
    return CopyToGuest(exec_, *plan, {recursive, false});
  }
  Status Down(std::vector<std::string> args, bool recursive = true) {
    Result<Plan> plan = MakePlan(args);
    if (!plan.ok()) return plan.error();
    return CopyFromGuest(exec_, *plan, {recursive, false});
  }
  // "vm:" + an absolute path of the fake guest.
  std::string G(const fs::path& p) { return "vm:" + (guest_ / p).string(); }

  static void Write(const fs::path& p, const std::string& data, mode_t mode) {
    std::ofstream(p, std::ios::binary) << data;
    ::chmod(p.c_str(), mode);
    timeval tv[2] = {{1700000000, 0}, {1700000000, 0}};
    ::utimes(p.c_str(), tv);
  }
  // A 16 MiB file with 4 KiB of data at 1 MiB and at the end: sparse.
  static void WriteSparse(const fs::path& p) {
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::string data(4096, 'x');
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 1 << 20), 4096);
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), (16 << 20) - 4096), 4096);
    ::close(fd);
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

  fs::path tmp_, host_, guest_;
  std::string tar_dir_;
  GuestExec exec_;
};

TEST_P(CpTransferTest, FileBothWaysKeepsModeAndMtime) {
  Write(host_ / "f.txt", "hello\n", 0640);
  ASSERT_TRUE(Up({(host_ / "f.txt").string(), G("")}).ok());
  EXPECT_EQ(Read(guest_ / "f.txt"), "hello\n");
  EXPECT_EQ(Lstat(guest_ / "f.txt").st_mode & 07777, 0640u);
  EXPECT_EQ(Lstat(guest_ / "f.txt").st_mtime, 1700000000);
  // Renamed on the way back (DST does not exist), then over an existing file.
  ASSERT_TRUE(Down({G("f.txt"), (host_ / "g.txt").string()}).ok());
  EXPECT_EQ(Read(host_ / "g.txt"), "hello\n");
  EXPECT_EQ(Lstat(host_ / "g.txt").st_mode & 07777, 0640u);
  EXPECT_EQ(Lstat(host_ / "g.txt").st_mtime, 1700000000);
  Write(guest_ / "f.txt", "second\n", 0600);
  ASSERT_TRUE(Down({G("f.txt"), (host_ / "g.txt").string()}).ok());
  EXPECT_EQ(Read(host_ / "g.txt"), "second\n");
}

TEST_P(CpTransferTest, TreeWithSymlinkAndSparseFileBothWays) {
  fs::create_directories(host_ / "t/sub");
  Write(host_ / "t/sub/a", "aaa", 0755);
  fs::create_symlink("sub/a", host_ / "t/link");
  WriteSparse(host_ / "t/sparse");
  ASSERT_TRUE(Up({(host_ / "t").string(), G("t2")}).ok());  // renamed: t2 is new
  EXPECT_EQ(Read(guest_ / "t2/sub/a"), "aaa");
  EXPECT_EQ(Lstat(guest_ / "t2/sub/a").st_mode & 07777, 0755u);
  EXPECT_EQ(fs::read_symlink(guest_ / "t2/link"), "sub/a");
  EXPECT_EQ(Read(guest_ / "t2/sparse"), Read(host_ / "t/sparse"));
  if (std::string(GetParam()) != "busybox") {  // busybox tar writes sparse files dense
    EXPECT_LT(Lstat(guest_ / "t2/sparse").st_blocks * 512, 1 << 20);
  }
  ASSERT_TRUE(Down({G("t2"), (host_ / "back").string()}).ok());
  EXPECT_EQ(fs::read_symlink(host_ / "back/link"), "sub/a");
  EXPECT_EQ(Read(host_ / "back/sparse"), Read(host_ / "t/sparse"));
  // Sparse on the host whatever the guest's tar: holes are found again.
  EXPECT_LT(Lstat(host_ / "back/sparse").st_blocks * 512, 1 << 20);
  // Into an existing directory: DST/t2.
  ASSERT_TRUE(Down({G("t2"), host_.string()}).ok());
  EXPECT_EQ(Read(host_ / "t2/sub/a"), "aaa");
}

TEST_P(CpTransferTest, ContentsAndSeveralSources) {
  fs::create_directories(guest_ / "d/e");
  Write(guest_ / "d/e/x", "x", 0644);
  Write(guest_ / "y", "y", 0644);
  fs::create_directories(host_ / "into");
  ASSERT_TRUE(Down({G("d/."), (host_ / "into").string()}).ok());
  EXPECT_EQ(Read(host_ / "into/e/x"), "x");
  ASSERT_TRUE(Down({G("d"), G("y"), (host_ / "into").string()}).ok());
  EXPECT_EQ(Read(host_ / "into/d/e/x"), "x");
  EXPECT_EQ(Read(host_ / "into/y"), "y");
  Status several = Down({G("d"), G("y"), (host_ / "nope").string()});
  EXPECT_NE(several.message().find("nope: no such directory (several sources"), std::string::npos)
      << several.message();
}

TEST_P(CpTransferTest, ErrorsNameThePath) {
  Status missing = Down({G("nope"), host_.string()});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find((guest_ / "nope").string() + ": no such file or directory"),
            std::string::npos)
      << missing.message();
  fs::create_directories(guest_ / "d");
  Status dir = Down({G("d"), host_.string()}, /*recursive=*/false);
  EXPECT_NE(dir.message().find("is a directory (use -r)"), std::string::npos) << dir.message();
  Status local = Up({(host_ / "absent").string(), G("")});
  EXPECT_EQ(local.message(), (host_ / "absent").string() + ": no such file or directory");
  Write(guest_ / "file", "f", 0644);
  fs::create_directories(host_ / "hd");
  Status to_file = Up({(host_ / "hd").string(), G("file")});
  EXPECT_NE(to_file.message().find("cannot copy a directory to a file: vm:"), std::string::npos)
      << to_file.message();
  EXPECT_EQ(Read(guest_ / "file"), "f");
}

TEST_P(CpTransferTest, NoTarInTheGuestSaysWhatToInstall) {
  fs::path empty = tmp_ / "empty-bin";
  fs::create_directories(empty);
  for (const char* tool : {"sh", "cat", "find", "head"}) {
    fs::create_symlink("/bin/" + std::string(tool), empty / tool);
  }
  GuestExec no_tar = [&](const GuestRun& run) {
    GuestRun r = run;
    r.argv.insert(r.argv.begin(), {"/usr/bin/env", "PATH=" + empty.string()});
    return LocalExec(r, "");
  };
  Result<Plan> plan = MakePlan({"vm:/etc/hostname", host_.string()});
  Status st = CopyFromGuest(no_tar, *plan, {});
  EXPECT_NE(st.message().find("vm has no tar: install one"), std::string::npos) << st.message();
}

TEST_P(CpTransferTest, BusyboxRefusesATargetHoldingSymlinks) {
  fs::create_directories(host_ / "t");
  Write(host_ / "t/x", "x", 0644);
  fs::create_directories(guest_ / "t");
  fs::create_directory(tmp_ / "outside");
  fs::create_directory_symlink(tmp_ / "outside", guest_ / "t/x");
  Status st = Up({(host_ / "t").string(), G("")});
  if (std::string(GetParam()) == "busybox") {
    EXPECT_NE(st.message().find("holds symlinks"), std::string::npos) << st.message();
  }
  EXPECT_TRUE(fs::is_empty(tmp_ / "outside"));  // nothing written through the link
}

TEST_P(CpTransferTest, AGuestCannotWriteOutsideTheDestination) {
  fs::create_directories(tmp_ / "evil/a");
  Write(tmp_ / "evil/escaped", "gotcha", 0644);
  // A tar whose member is "../escaped", sent after a plausible header.
  ASSERT_EQ(std::system(("cd " + (tmp_ / "evil/a").string() +
                         " && tar -cPf ../evil.tar ../escaped 2>/dev/null").c_str()),
            0);
  GuestExec liar = [&](const GuestRun& run) {
    GuestRun r = run;
    r.argv = {"sh", "-c", "echo 'warren-cp 1 gnu f -'; read go; cat \"$1\"", "x",
              (tmp_ / "evil/evil.tar").string()};
    return LocalExec(r, "");
  };
  fs::create_directories(host_ / "dst");
  Result<Plan> plan = MakePlan({"vm:/escaped", (host_ / "dst").string()});
  Status st = CopyFromGuest(liar, *plan, {});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("leaves its directory"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(host_ / "escaped"));
}

INSTANTIATE_TEST_SUITE_P(Tars, CpTransferTest, ::testing::Values("gnu", "busybox"));

}  // namespace
}  // namespace warren::cli::cp
