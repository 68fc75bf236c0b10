#include "ops/op_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <future>
#include <stdexcept>

#include "fakes/fake_clock.h"

namespace warren {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

// One event as a waiter saw it: "step@fraction", "log:line" or "end:state".
std::string Describe(const OpInfo& info, const std::string* line) {
  if (line) return "log:" + *line;
  if (info.state != OpState::kRunning) return "end:" + std::string(OpStateName(info.state));
  return info.step + "@" + std::to_string(static_cast<int>(std::lround(info.fraction * 100)));
}

// Blocks a body until its stop token fires.
void BlockUntilStopped(OpContext& ctx) {
  std::promise<void> stopped;
  std::stop_callback cb(ctx.stop(), [&] { stopped.set_value(); });
  stopped.get_future().wait();
}

class OpRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("warren_ops_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Result<std::unique_ptr<Store>> s = Store::Open(dir_ / "warren.db");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    registry_ = std::make_unique<OpRegistry>(store_.get(), &clock_);
  }
  void TearDown() override {
    if (registry_) registry_->Shutdown();
    registry_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string StartOk(OpRegistry::Body body, std::string kind = "vm.create") {
    Result<std::string> id = registry_->Start(std::move(kind), "web", std::move(body));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : "";
  }

  // Waits for `id`, recording events; `on_first` runs once at the first event.
  Result<OpInfo> WaitRecording(const std::string& id, std::vector<std::string>* events,
                               std::function<void()> on_first = nullptr,
                               std::stop_token stop = {}) {
    return registry_->Wait(id, stop, [&](const OpInfo& info, const std::string* line) {
      events->push_back(Describe(info, line));
      if (on_first) std::exchange(on_first, nullptr)();
    });
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<OpRegistry> registry_;
};

TEST_F(OpRegistryTest, ProgressAndWaitSucceed) {
  std::promise<void> go;
  std::shared_future<void> gate = go.get_future().share();
  std::string id = StartOk([&, gate](OpContext& ctx) -> Result<json> {
    ctx.Progress("started", 0);
    gate.wait();
    clock_.Advance(std::chrono::seconds(3));
    ctx.Progress("download", 0.25);
    ctx.Log("fetched 12 MB");
    ctx.Progress("boot", 0.75);
    return json{{"ip", "10.77.0.2"}};
  });
  EXPECT_THAT(id, testing::StartsWith("op-"));

  std::vector<std::string> events;
  Result<OpInfo> info = WaitRecording(id, &events, [&] { go.set_value(); });
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_THAT(events, ElementsAre("started@0", "download@25", "log:fetched 12 MB", "boot@75",
                                  "end:succeeded"));
  EXPECT_EQ(info->state, OpState::kSucceeded);
  EXPECT_EQ(info->kind, "vm.create");
  EXPECT_EQ(info->target, "web");
  EXPECT_EQ(info->step, "boot");
  EXPECT_EQ(info->fraction, 1.0);
  EXPECT_EQ(info->result["ip"], "10.77.0.2");
  EXPECT_EQ(info->ended_ms - info->started_ms, 3000);

  Result<OpInfo> got = registry_->Get(id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state, OpState::kSucceeded);
  // Persisted before Wait could see the end.
  Result<OpRecord> row = store_->GetOp(id);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->state, "succeeded");
  EXPECT_EQ(row->step, "boot");
  EXPECT_EQ(json::parse(row->result_json), info->result);
}

TEST_F(OpRegistryTest, FailureCarriesErrorText) {
  std::string id = StartOk([](OpContext& ctx) -> Result<json> {
    ctx.Progress("resize disk", 0.5);
    return Internal("qemu-img: disk full");
  });
  std::vector<std::string> events;
  Result<OpInfo> info = WaitRecording(id, &events);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, OpState::kFailed);
  EXPECT_EQ(info->error, "qemu-img: disk full");
  EXPECT_TRUE(info->result.is_null());
  Result<OpRecord> row = store_->GetOp(id);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->state, "failed");
  EXPECT_EQ(row->error, "qemu-img: disk full");
}

TEST_F(OpRegistryTest, ThrowingBodyFails) {
  std::string id = StartOk([](OpContext&) -> Result<json> { throw std::runtime_error("boom"); });
  std::vector<std::string> events;
  Result<OpInfo> info = WaitRecording(id, &events);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, OpState::kFailed);
  EXPECT_THAT(info->error, HasSubstr("boom"));
}

TEST_F(OpRegistryTest, CancelMidRunEndsCancelled) {
  std::string id = StartOk([](OpContext& ctx) -> Result<json> {
    ctx.Progress("building", 0.1);
    BlockUntilStopped(ctx);
    return Cancelled("image build cancelled");
  });
  std::vector<std::string> events;
  Result<OpInfo> info =
      WaitRecording(id, &events, [&] { EXPECT_TRUE(registry_->Cancel(id).ok()); });
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, OpState::kCancelled);
  EXPECT_EQ(info->error, "image build cancelled");
  EXPECT_THAT(events, ElementsAre("building@10", "end:cancelled"));

  Status again = registry_->Cancel(id);
  EXPECT_EQ(again.code(), Code::kFailedPrecondition);
  EXPECT_THAT(again.message(), HasSubstr("already cancelled"));
  EXPECT_EQ(store_->GetOp(id)->state, "cancelled");
}

TEST_F(OpRegistryTest, AnyErrorAfterStopCountsAsCancelled) {
  std::string id = StartOk([](OpContext& ctx) -> Result<json> {
    ctx.Progress("copy", 0);
    BlockUntilStopped(ctx);
    return Internal("copy interrupted");
  });
  std::vector<std::string> events;
  Result<OpInfo> info =
      WaitRecording(id, &events, [&] { EXPECT_TRUE(registry_->Cancel(id).ok()); });
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, OpState::kCancelled);
  EXPECT_EQ(info->error, "copy interrupted");
}

TEST_F(OpRegistryTest, UnknownIds) {
  std::vector<std::string> events;
  Result<OpInfo> waited = WaitRecording("op-nope", &events);
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(waited.error().code(), Code::kNotFound);
  EXPECT_THAT(waited.error().message(), HasSubstr("op-nope"));
  EXPECT_THAT(waited.error().message(), HasSubstr("warren op ls"));
  EXPECT_EQ(registry_->Get("op-nope").status().code(), Code::kNotFound);
  EXPECT_EQ(registry_->Cancel("op-nope").code(), Code::kNotFound);
}

TEST_F(OpRegistryTest, StoppedWaitLeavesOpRunning) {
  std::string id = StartOk([](OpContext& ctx) -> Result<json> {
    ctx.Progress("waiting", 0);
    BlockUntilStopped(ctx);
    return Cancelled("stopped");
  });
  std::stop_source waiter;
  std::vector<std::string> events;
  Result<OpInfo> info = WaitRecording(
      id, &events, [&] { waiter.request_stop(); }, waiter.get_token());
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code(), Code::kCancelled);
  EXPECT_THAT(info.error().message(), HasSubstr("keeps running"));
  EXPECT_EQ(registry_->Get(id)->state, OpState::kRunning);
}

TEST_F(OpRegistryTest, LateWaiterGetsFinalStateWithoutEvents) {
  std::string id = StartOk([](OpContext& ctx) -> Result<json> {
    ctx.Progress("only", 0.5);
    return json(7);
  });
  std::vector<std::string> first;
  ASSERT_TRUE(WaitRecording(id, &first).ok());
  std::vector<std::string> events;
  Result<OpInfo> info = WaitRecording(id, &events);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(info->result, json(7));
}

TEST_F(OpRegistryTest, ProgressClamps) {
  std::promise<void> go;
  std::shared_future<void> gate = go.get_future().share();
  std::string id = StartOk([gate](OpContext& ctx) -> Result<json> {
    ctx.Progress("a", 0);
    gate.wait();
    ctx.Progress("b", 5);
    ctx.Progress("c", -1);
    ctx.Progress("d", std::nan(""));
    return json();
  });
  std::vector<std::string> events;
  ASSERT_TRUE(WaitRecording(id, &events, [&] { go.set_value(); }).ok());
  EXPECT_THAT(events, ElementsAre("a@0", "b@100", "c@0", "d@0", "end:succeeded"));
}

TEST_F(OpRegistryTest, ShutdownCancelsRunningOps) {
  std::promise<void> started;
  std::string id = StartOk([&](OpContext& ctx) -> Result<json> {
    started.set_value();
    BlockUntilStopped(ctx);
    return Cancelled("shutting down");
  });
  started.get_future().wait();
  registry_->Shutdown();
  Result<OpInfo> info = registry_->Get(id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, OpState::kCancelled);
  EXPECT_EQ(store_->GetOp(id)->state, "cancelled");

  Result<std::string> late =
      registry_->Start("vm.create", "x", [](OpContext&) -> Result<json> { return json(); });
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code(), Code::kFailedPrecondition);
}

TEST_F(OpRegistryTest, RestartKeepsHistoryAndFailsInterruptedOps) {
  std::string done = StartOk([](OpContext&) -> Result<json> { return json{{"ok", true}}; });
  std::vector<std::string> events;
  ASSERT_TRUE(WaitRecording(done, &events).ok());
  registry_->Shutdown();
  registry_.reset();
  // What a daemon killed mid-op leaves behind, started in the same millisecond.
  OpRecord crashed{"op-crashed", "image.build",          "default", "running", "debootstrap",
                   0.4,          clock_.NowUnixMillis(), 0,         "",        "null"};
  ASSERT_TRUE(store_->PutOp(crashed).ok());

  clock_.Advance(std::chrono::minutes(5));
  registry_ = std::make_unique<OpRegistry>(store_.get(), &clock_);
  std::vector<OpInfo> ops = registry_->List();
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].id, done);
  EXPECT_EQ(ops[0].state, OpState::kSucceeded);
  EXPECT_EQ(ops[0].result["ok"], true);
  EXPECT_EQ(ops[1].id, "op-crashed");
  EXPECT_EQ(ops[1].state, OpState::kFailed);
  EXPECT_EQ(ops[1].error, "interrupted: daemon restarted");
  EXPECT_EQ(ops[1].ended_ms, clock_.NowUnixMillis());
  EXPECT_EQ(store_->GetOp("op-crashed")->state, "failed");
}

TEST_F(OpRegistryTest, KeepsBoundedHistoryInMemoryButAllInStore) {
  std::string first;
  for (size_t i = 0; i < OpRegistry::kMaxFinished + 3; ++i) {
    std::string id = StartOk([](OpContext&) -> Result<json> { return json(); });
    if (i == 0) first = id;
    std::vector<std::string> events;
    ASSERT_TRUE(WaitRecording(id, &events).ok());
  }
  std::vector<OpInfo> ops = registry_->List();
  EXPECT_EQ(ops.size(), OpRegistry::kMaxFinished);
  for (const OpInfo& op : ops) EXPECT_NE(op.id, first);
  Result<OpInfo> evicted = registry_->Get(first);  // falls back to the store
  ASSERT_TRUE(evicted.ok()) << evicted.status().ToString();
  EXPECT_EQ(evicted->state, OpState::kSucceeded);
  EXPECT_EQ(store_->ListOps()->size(), OpRegistry::kMaxFinished + 3);
}

TEST_F(OpRegistryTest, JsonFieldNamesAreStable) {
  OpInfo info{"op-1", "vm.create", "web", OpState::kFailed, "boot",
              0.5,    10,          20,    "no kvm",         json{{"a", 1}}};
  json j = OpInfoToJson(info);
  EXPECT_EQ(j, json::parse(R"({"id":"op-1","kind":"vm.create","target":"web","state":"failed",
      "step":"boot","fraction":0.5,"started_ms":10,"ended_ms":20,"error":"no kvm",
      "result":{"a":1}})"));
  EXPECT_EQ(OpStateName(OpState::kRunning), "running");
  EXPECT_EQ(OpStateName(OpState::kSucceeded), "succeeded");
  EXPECT_EQ(OpStateName(OpState::kCancelled), "cancelled");
}

}  // namespace
}  // namespace warren
