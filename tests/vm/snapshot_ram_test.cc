#include "vm/snapshot_ram.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "sys/test_util.h"

namespace warren {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kSize = 64 * kPage;

// A sparse "RAM file": pages 3 and 40 written, the rest holes.
std::filesystem::path SparseRam(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "ram";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(::ftruncate(fd.get(), kSize), 0);
  std::string page(kPage, 'a');
  EXPECT_EQ(::pwrite(fd.get(), page.data(), kPage, 3 * kPage), static_cast<ssize_t>(kPage));
  page.assign(kPage, 'b');
  EXPECT_EQ(::pwrite(fd.get(), page.data(), kPage, 40 * kPage), static_cast<ssize_t>(kPage));
  return path;
}

// The copy reads as the file, keeps its holes, refuses writes and shared
// writable maps, and still maps private and writable (what a clone does),
// its writes staying its own.
TEST(SealedCopyTest, SameBytesHolesKeptWritableOnlyCopyOnWrite) {
  TempDir dir;
  Result<UniqueFd> copy = SealedCopy(SparseRam(dir.path()));
  ASSERT_TRUE(copy.ok()) << copy.error().ToString();
  const int fd = copy->get();
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), kSize);
  EXPECT_LE(static_cast<size_t>(st.st_blocks) * 512, 2 * kPage) << "holes were filled";

  char c = 0;
  ASSERT_EQ(::pread(fd, &c, 1, 3 * kPage + 7), 1);
  EXPECT_EQ(c, 'a');
  ASSERT_EQ(::pread(fd, &c, 1, 40 * kPage), 1);
  EXPECT_EQ(c, 'b');
  ASSERT_EQ(::pread(fd, &c, 1, 10 * kPage), 1);
  EXPECT_EQ(c, 0);

  EXPECT_EQ(::pwrite(fd, "x", 1, 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::ftruncate(fd, 2 * kSize), -1);
  EXPECT_EQ(::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
  EXPECT_EQ(::fcntl(fd, F_ADD_SEALS, 0), -1) << "the seals themselves are sealed";

  // As QEMU opens it: through /proc/self/fd, read-write, mapped private.
  UniqueFd reopened(::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(reopened.valid()) << errno;
  void* map = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, reopened.get(), 0);
  ASSERT_NE(map, MAP_FAILED);
  char* ram = static_cast<char*>(map);
  EXPECT_EQ(ram[3 * kPage], 'a');
  ram[3 * kPage] = 'z';
  ASSERT_EQ(::pread(fd, &c, 1, 3 * kPage), 1);
  EXPECT_EQ(c, 'a') << "a private write reached the shared copy";
  ::munmap(map, kSize);
}

TEST(SealedCopyTest, AMissingFileIsNotFound) {
  TempDir dir;
  Result<UniqueFd> copy = SealedCopy(dir.path() / "nope");
  ASSERT_FALSE(copy.ok());
  EXPECT_NE(copy.error().message().find("nope"), std::string::npos);
}

// Gets of one file at once share one memfd; a failed read is not kept; a
// dropped entry is read again, while what was handed out stays open.
TEST(SnapshotRamCacheTest, OneMemfdPerFileFailuresNotKept) {
  TempDir dir;
  SnapshotRamCache cache;
  const std::filesystem::path missing = dir.path() / "ram";
  EXPECT_FALSE(cache.Get(missing).ok());
  const std::filesystem::path ram = SparseRam(dir.path());

  std::vector<SnapshotRamCache::Fd> got(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] {
      Result<SnapshotRamCache::Fd> fd = cache.Get(ram);
      if (fd.ok()) got[i] = *fd;
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<const UniqueFd*> distinct;
  for (const SnapshotRamCache::Fd& fd : got) {
    ASSERT_NE(fd, nullptr);
    distinct.insert(fd.get());
  }
  EXPECT_EQ(distinct.size(), 1u);

  cache.Drop(ram);
  Result<SnapshotRamCache::Fd> again = cache.Get(ram);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->get(), got[0].get());
  char c = 0;
  EXPECT_EQ(::pread(got[0]->get(), &c, 1, 40 * kPage), 1);
  EXPECT_EQ(c, 'b');
}

}  // namespace
}  // namespace warren
