// The image registry through the in-process daemon and its RPC surface, with
// a fake builder.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "daemon/daemon.h"
#include "fakes/fake_daemon_deps.h"
#include "rpc/client.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using json = nlohmann::json;

class ImageDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warren-image-daemon-XXXXXX";
    layout_ = Layout::ForRoot(mkdtemp(tmpl));
  }
  void TearDown() override {
    Stop();
    fs::remove_all(layout_.root);
  }

  // Opens a daemon whose builder is `builder_` (a fresh one per Start) and serves it.
  void Start() {
    fakes_ = std::make_unique<FakeDaemonDeps>();
    builder_ = fakes_->image_builder;
    auto d = Daemon::Open(layout_, std::move(fakes_->deps));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    daemon_ = std::move(d).value();
    serve_ = std::thread([this] { (void)daemon_->Serve(); });
    auto c = rpc::Client::Connect(layout_.socket);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(c).value();
  }
  void Stop() {
    if (!daemon_) return;
    client_.reset();
    (void)daemon_->Close();
    serve_.join();
    daemon_.reset();
  }

  Result<json> Call(std::string_view method, json params = json::object()) {
    return client_->Call(method, params);
  }

  std::vector<std::string> Entries(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    return out;
  }

  Layout layout_;
  std::unique_ptr<FakeDaemonDeps> fakes_;  // its deps moved into daemon_
  FakeImageBuilder* builder_ = nullptr;  // owned by daemon_
  std::unique_ptr<Daemon> daemon_;
  std::thread serve_;
  std::unique_ptr<rpc::Client> client_;
};

TEST_F(ImageDaemonTest, BuildWaitListInspectRemove) {
  Start();
  auto started = Call("image.build", {{"name", "web"}, {"recipe", "suite = \"trixie\"\n"}});
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  std::string id = (*started)["op"];
  auto done = Call("op.wait", {{"id", id}});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump();
  EXPECT_EQ((*done)["kind"], "image.build");

  auto list = Call("image.list");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ((*list)["images"].size(), 1u);
  EXPECT_EQ((*list)["images"][0]["name"], "web");
  EXPECT_EQ((*list)["images"][0]["source"], "recipe");
  auto inspect = Call("image.inspect", {{"name", "web"}});
  ASSERT_TRUE(inspect.ok());
  EXPECT_EQ((*inspect)["manifest"]["source"]["recipe"], "suite = \"trixie\"\n");
  EXPECT_EQ((*inspect)["manifest"]["facts"]["suite"], "trixie");
  EXPECT_EQ((*inspect)["manifest"]["parts"]["rootfs"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ((*Call("daemon.status"))["counts"]["images"], 1);

  ASSERT_TRUE(Call("image.rm", {{"name", "web"}}).ok());
  EXPECT_TRUE((*Call("image.list"))["images"].empty());
  EXPECT_FALSE(fs::exists(layout_.images_dir / "web"));
}

TEST_F(ImageDaemonTest, BadRecipeIsRefusedBeforeAnOpStarts) {
  Start();
  auto r =
      Call("image.build",
           {{"name", "web"}, {"recipe", "flavour = \"alpine\"\n"}, {"recipe_origin", "my.toml"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(r.error().message(), HasSubstr("my.toml"));
  EXPECT_TRUE((*Call("op.list"))["ops"].empty());
  EXPECT_EQ(builder_->builds(), 0);
}

TEST_F(ImageDaemonTest, CloseDuringABuildCancelsItAndLeavesNothing) {
  Start();
  builder_->block = true;  // blocks until stopped
  auto started = Call("image.build", {{"name", "web"}});
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  std::string id = (*started)["op"];
  ASSERT_TRUE(builder_->WaitEntered());
  EXPECT_FALSE(Entries(layout_.images_dir / ".staging").empty());
  Stop();
  EXPECT_THAT(Entries(layout_.images_dir), ::testing::ElementsAre(".staging"));
  EXPECT_TRUE(Entries(layout_.images_dir / ".staging").empty());

  // After a restart: nothing registered, the op recorded as cancelled.
  Start();
  EXPECT_TRUE((*Call("image.list"))["images"].empty());
  auto op = Call("op.get", {{"id", id}});
  ASSERT_TRUE(op.ok());
  EXPECT_EQ((*op)["state"], "cancelled");
}

TEST_F(ImageDaemonTest, StagingDebrisFromACrashIsRemovedAtOpen) {
  fs::create_directories(layout_.images_dir / ".staging" / "web-op-dead" / "root");
  fs::create_directories(layout_.images_dir / "half");  // renamed, never committed
  Start();
  EXPECT_TRUE(Entries(layout_.images_dir / ".staging").empty());
  EXPECT_FALSE(fs::exists(layout_.images_dir / "half"));
}

TEST_F(ImageDaemonTest, ConfigCacheDirReachesTheBuilder) {
  ASSERT_TRUE(layout_.Ensure().ok());
  fs::path cache = layout_.root / "elsewhere";
  std::ofstream(layout_.config_file) << "[images]\ncache_dir = \"" << cache.string() << "\"\n";
  Start();
  auto started = Call("image.build", {{"name", "web"}});
  ASSERT_TRUE(started.ok());
  ASSERT_TRUE(Call("op.wait", {{"id", (*started)["op"]}}).ok());
  EXPECT_EQ(builder_->last_cache_dir(), cache);
}

}  // namespace
}  // namespace warren
