#include "fakes/fake_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace warren {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

RunSpec Spec(std::vector<std::string> argv) {
  RunSpec s;
  s.argv = std::move(argv);
  return s;
}

TEST(FakeRunnerTest, UnmatchedIsNotFoundAndRecorded) {
  FakeRunner runner;
  auto r = runner.Run(Spec({"qemu-img", "info", "x.qcow2"}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_THAT(r.error().message(), HasSubstr("qemu-img"));
  EXPECT_THAT(runner.calls(), ElementsAre(ElementsAre("qemu-img", "info", "x.qcow2")));
}

TEST(FakeRunnerTest, MatchesPrefixAndBasename) {
  FakeRunner runner;
  runner.OnOutput({"qemu-img", "info"}, "format: qcow2\n");
  auto r = runner.Run(Spec({"/usr/bin/qemu-img", "info", "disk"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "format: qcow2\n");
  EXPECT_FALSE(runner.Run(Spec({"qemu-img", "create"})).ok());
  EXPECT_FALSE(runner.Run(Spec({"qemu-img"})).ok());
  EXPECT_FALSE(runner.Run(Spec({"/usr/bin/xqemu-img", "info"})).ok());
  EXPECT_EQ(runner.CallCount({"qemu-img"}), 3);  // not xqemu-img
  EXPECT_EQ(runner.CallCount({"qemu-img", "info"}), 1);
}

TEST(FakeRunnerTest, LatestRuleWins) {
  FakeRunner runner;
  runner.OnOutput({"ip"}, "first");
  runner.OnError({"ip", "link"}, Internal("link failed"));
  EXPECT_EQ(runner.Run(Spec({"ip", "addr"}))->out, "first");
  auto r = runner.Run(Spec({"ip", "link", "add"}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "link failed");
}

TEST(FakeRunnerTest, CallbackSeesSpecAndFeedsOnOutput) {
  FakeRunner runner;
  runner.OnCall({"cat"}, [](const RunSpec& s, std::stop_token) -> Result<RunResult> {
    RunResult r;
    r.exit_code = 0;
    r.out = s.stdin_data;
    r.err = "warn";
    return r;
  });
  RunSpec s = Spec({"cat"});
  s.stdin_data = "payload";
  std::vector<std::pair<std::string, bool>> seen;
  s.on_output = [&](std::string_view c, bool e) { seen.emplace_back(std::string(c), e); };
  auto r = runner.Run(s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "payload");
  std::vector<std::pair<std::string, bool>> want = {{"payload", false}, {"warn", true}};
  EXPECT_EQ(seen, want);
  EXPECT_EQ(runner.specs().at(0).stdin_data, "payload");
}

TEST(FakeRunnerTest, NonZeroExitFlowsThroughCheckSuccess) {
  FakeRunner runner;
  RunResult bad;
  bad.exit_code = 1;
  bad.err = "mkfs: device busy\n";
  runner.On({"mkfs.ext4"}, bad);
  auto r = RunAndCheck(runner, Spec({"mkfs.ext4", "/dev/x"}));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("mkfs.ext4"));
  EXPECT_THAT(r.error().message(), HasSubstr("device busy"));
}

TEST(FakeRunnerTest, SetUnmatchedChangesDefault) {
  FakeRunner runner;
  runner.SetUnmatched([](const RunSpec&, std::stop_token) -> Result<RunResult> {
    RunResult r;
    r.exit_code = 0;
    return r;
  });
  EXPECT_TRUE(runner.Run(Spec({"anything"})).ok());
  EXPECT_TRUE(runner.Called({"anything"}));
}

}  // namespace
}  // namespace warren
