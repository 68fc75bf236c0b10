// KSM's controls read and switched in a directory laid out as
// /sys/kernel/mm/ksm is (the real one is host-wide: never touched here).
#include "sys/ksm.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace warren {
namespace {

namespace fs = std::filesystem;

class KsmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warren-ksm-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Put(const std::string& name, const std::string& value) {
    std::ofstream(dir_ / name) << value << "\n";
  }
  std::string Get(const std::string& name) {
    std::string v;
    std::ifstream(dir_ / name) >> v;
    return v;
  }
  fs::path dir_;
};

TEST_F(KsmTest, ReadsRunAndTheSaving) {
  Put("run", "1");
  Put("pages_shared", "100");
  Put("pages_sharing", "612");
  KsmState k = ReadKsm(dir_);
  ASSERT_TRUE(k.available);
  EXPECT_EQ(k.run, 1);
  EXPECT_EQ(k.saved_bytes(), 512u * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_FALSE(ReadKsm(dir_ / "missing").available);
  EXPECT_FALSE(ReadKsm("").available);
}

TEST_F(KsmTest, EnableTurnsItOnAndLeavesItOnWhenItIs) {
  Put("run", "0");
  ASSERT_TRUE(EnableKsm(dir_).ok());
  EXPECT_EQ(Get("run"), "1");
  ASSERT_TRUE(EnableKsm(dir_).ok());  // already on: nothing to do
  EXPECT_EQ(Get("run"), "1");
}

TEST_F(KsmTest, EnableNamesTheFixWhenTheKernelHasNoKsm) {
  Status missing = EnableKsm(dir_ / "missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.code(), Code::kFailedPrecondition);
  EXPECT_NE(missing.message().find("[vm] ksm = false"), std::string::npos) << missing.ToString();
}

}  // namespace
}  // namespace warren
