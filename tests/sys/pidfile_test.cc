#include "sys/pidfile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "sys/test_util.h"

namespace warren {
namespace {

using ::testing::HasSubstr;

std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(PidFileTest, AcquireWritesOurPidAndReleaseUnlinks) {
  TempDir tmp;
  auto path = tmp.path() / "warren.pid";
  {
    auto pf = PidFile::Acquire(path);
    ASSERT_TRUE(pf.ok()) << pf.error().ToString();
    EXPECT_EQ(ReadAll(path), std::to_string(getpid()) + "\n");
    EXPECT_EQ(ReadPidFile(path), getpid());
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(PidFileTest, MoveTransfersOwnership) {
  TempDir tmp;
  auto path = tmp.path() / "warren.pid";
  auto pf = PidFile::Acquire(path);
  ASSERT_TRUE(pf.ok());
  PidFile moved = std::move(*pf);
  pf = Result<PidFile>(Internal("dropped"));  // destroys the moved-from file: must not unlink
  EXPECT_TRUE(std::filesystem::exists(path));
  moved.Release();
  EXPECT_FALSE(std::filesystem::exists(path));
  moved.Release();  // idempotent
}

// A child process holds the lock; the parent must be refused with the child's pid.
TEST(PidFileTest, RefusedWhileAnotherProcessHoldsIt) {
  TempDir tmp;
  auto path = tmp.path() / "warren.pid";
  int ready[2], done[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(done), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto pf = PidFile::Acquire(path);
    char c = pf.ok() ? 'y' : 'n';
    (void)!write(ready[1], &c, 1);
    (void)!read(done[0], &c, 1);  // hold the lock until the parent is done
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');

  auto second = PidFile::Acquire(path, "/srv/warren");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(second.error().message(),
              HasSubstr("another warren daemon (pid " + std::to_string(child) + ")"));
  EXPECT_THAT(second.error().message(), HasSubstr("on root /srv/warren"));
  EXPECT_EQ(ReadPidFile(path), child);  // the refused attempt did not clobber it

  (void)!write(done[1], "x", 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  for (int fd : {ready[0], ready[1], done[0], done[1]}) close(fd);

  // The child's PidFile was never destroyed (_exit), so its file remains, unlocked: stale.
  auto third = PidFile::Acquire(path);
  ASSERT_TRUE(third.ok()) << third.error().ToString();
  EXPECT_EQ(ReadPidFile(path), getpid());
}

TEST(PidFileTest, StaleFileFromDeadDaemonIsTakenOver) {
  TempDir tmp;
  auto path = tmp.path() / "warren.pid";
  pid_t dead = fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) _exit(0);
  ASSERT_EQ(waitpid(dead, nullptr, 0), dead);
  std::ofstream(path) << dead << "\n";

  auto pf = PidFile::Acquire(path);
  ASSERT_TRUE(pf.ok()) << pf.error().ToString();
  EXPECT_EQ(ReadAll(path), std::to_string(getpid()) + "\n");
}

TEST(PidFileTest, UnwritableDirectoryIsAnErrorNamingPath) {
  auto pf = PidFile::Acquire("/nonexistent-warren-dir/warren.pid");
  ASSERT_FALSE(pf.ok());
  EXPECT_THAT(pf.error().message(), HasSubstr("/nonexistent-warren-dir/warren.pid"));
}

}  // namespace
}  // namespace warren
