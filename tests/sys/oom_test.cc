#include "sys/oom.h"

#include <gtest/gtest.h>

#include <fstream>

#include "sys/test_util.h"

namespace warren {
namespace {

TEST(OomTest, LogLinesNameTheKilledPidExactly) {
  EXPECT_TRUE(LogLineNamesOomKill(
      "3,1234,5678,-;Out of memory: Killed process 4242 (qemu-system-x86) total-vm:1000kB", 4242));
  EXPECT_TRUE(LogLineNamesOomKill(
      "3,1,2,-;Memory cgroup out of memory: Killed process 77 (qemu-system-x86) total-vm:1kB", 77));
  EXPECT_FALSE(LogLineNamesOomKill("Out of memory: Killed process 42421 (qemu) ", 4242));
  EXPECT_FALSE(LogLineNamesOomKill("Out of memory: Killed process 424 (qemu) ", 4242));
  EXPECT_FALSE(LogLineNamesOomKill("oom_reaper: reaped process 4242 (qemu)", 4242));
  EXPECT_FALSE(LogLineNamesOomKill("Killed process 4242", 4242));  // truncated: no comm
}

TEST(OomTest, KernelLogFileIsScannedWhole) {
  TempDir dir;
  const auto log = dir.path() / "kmsg";
  {
    std::ofstream out(log);
    for (int i = 0; i < 2000; ++i) out << "6," << i << ",0,-;filler line number " << i << "\n";
    out << "3,2000,0,-;Memory cgroup out of memory: Killed process 999 (qemu-system-x86)";
  }
  EXPECT_TRUE(*KernelLogNamesOomKill(log, 999));
  EXPECT_FALSE(*KernelLogNamesOomKill(log, 998));
  EXPECT_EQ(KernelLogNamesOomKill(dir.path() / "absent", 1).error().code(), Code::kUnavailable);
}

TEST(OomTest, MemTotalFromMeminfo) {
  TempDir dir;
  std::ofstream(dir.path() / "meminfo") << "MemTotal:       24684096 kB\nMemFree: 1 kB\n";
  EXPECT_EQ(*HostMemTotalBytes(dir.path() / "meminfo"), 24684096ull * 1024);
  std::ofstream(dir.path() / "bad") << "MemFree: 1 kB\n";
  EXPECT_FALSE(HostMemTotalBytes(dir.path() / "bad").ok());
}

}  // namespace
}  // namespace warren
