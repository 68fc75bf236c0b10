// events.subscribe through a whole Daemon on fakes: VM, op and image changes
// arrive as `event` notifications, in order, until the client cancels.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "daemon/daemon.h"
#include "fakes/fake_daemon_deps.h"
#include "rpc/client.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
constexpr std::chrono::seconds kWait{30};  // a broken stream, not a timing check

// A subscriber on its own connection: events.subscribe runs on a thread until
// Stop() cancels it; every event is kept.
class Subscriber {
 public:
  Subscriber(const fs::path& socket, json params) {
    auto c = rpc::Client::Connect(socket);
    if (!c.ok()) {
      ADD_FAILURE() << c.status().ToString();
      return;
    }
    client_ = std::move(c).value();
    thread_ = std::thread([this, params] {
      Result<json> r =
          client_->Call("events.subscribe", params, [this](std::string_view method, const json& p) {
            std::lock_guard<std::mutex> lock(mu_);
            if (method == "event") events_.push_back(p);
          });
      std::lock_guard<std::mutex> lock(mu_);
      result_ = r.ok() ? *r : json(r.status().ToString());
    });
  }
  ~Subscriber() { Stop(); }

  // Waits (bounded) until `pred` holds over the events so far.
  bool WaitFor(const std::function<bool(const std::vector<json>&)>& pred) {
    auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (pred(events_)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  bool WaitSubscribed() {
    return WaitFor([](const std::vector<json>& e) {
      return !e.empty() && e[0]["kind"] == "meta" && e[0]["action"] == "subscribed";
    });
  }
  std::vector<json> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  // "kind action target [state]" lines of the non-meta events of `kind`.
  std::vector<std::string> Lines(const std::string& kind) {
    std::vector<std::string> out;
    for (const json& e : Events()) {
      if (e["kind"] != kind) continue;
      std::string line = e["action"].get<std::string>() + " " + e["target"].get<std::string>();
      if (e["data"].contains("state")) line += " " + e["data"]["state"].get<std::string>();
      if (out.empty() || out.back() != line) out.push_back(line);  // progress repeats
    }
    return out;
  }
  json Stop() {
    if (!thread_.joinable()) return result_;
    client_->Cancel();
    thread_.join();
    return result_;
  }

 private:
  std::unique_ptr<rpc::Client> client_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<json> events_;
  json result_;
};

class EventsDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warren-events-daemon-XXXXXX";
    layout_ = Layout::ForRoot(mkdtemp(tmpl));
    ASSERT_TRUE(layout_.Ensure().ok());
    std::ofstream(layout_.config_file) << "[dns]\nhost_listen = \"127.0.0.1:0\"\n";
    fakes_ = std::make_unique<FakeDaemonDeps>();
    auto d = Daemon::Open(layout_, std::move(fakes_->deps));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    daemon_ = std::move(d).value();
    serve_ = std::thread([this] { (void)daemon_->Serve(); });
    auto c = rpc::Client::Connect(layout_.socket);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(c).value();
  }
  void TearDown() override {
    client_.reset();
    if (daemon_) {
      EXPECT_TRUE(daemon_->Close().ok());
      serve_.join();
      daemon_.reset();
    }
    fs::remove_all(layout_.root);
  }
  Result<json> CallAndWait(std::string_view method, json params) {
    ASSIGN_OR_RETURN(json started, client_->Call(method, params));
    return client_->Call("op.wait", {{"id", started["op"]}});
  }

  Layout layout_;
  std::unique_ptr<FakeDaemonDeps> fakes_;
  std::unique_ptr<Daemon> daemon_;
  std::thread serve_;
  std::unique_ptr<rpc::Client> client_;
};

TEST_F(EventsDaemonTest, ImageOpAndVmLifecycleArriveInOrder) {
  Subscriber all(layout_.socket, json::object());
  ASSERT_TRUE(all.WaitSubscribed());

  Result<json> built = CallAndWait("image.build", {{"name", "base"}});
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  const std::string build_op = (*built)["id"];
  Result<json> created = CallAndWait("vm.create", {{"name", "web1"}, {"image", "base"}});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ASSERT_EQ((*created)["state"], "succeeded") << created->dump();
  ASSERT_TRUE(client_->Call("vm.stop", {{"name", "web1"}}).ok());
  ASSERT_TRUE(client_->Call("vm.rm", {{"name", "web1"}}).ok());
  ASSERT_TRUE(client_->Call("image.rm", {{"name", "base"}}).ok());

  ASSERT_TRUE(all.WaitFor([](const std::vector<json>& e) {
    return !e.empty() && e.back()["kind"] == "image" && e.back()["action"] == "deleted";
  })) << json(all.Events()).dump();
  EXPECT_EQ(all.Stop(), json::object());  // $/cancel ends the call with {}

  const std::vector<json> events = all.Events();
  for (size_t i = 2; i < events.size(); ++i) {  // after meta/subscribed: seq +1 each
    EXPECT_EQ(events[i]["seq"].get<uint64_t>(), events[i - 1]["seq"].get<uint64_t>() + 1);
  }
  // The image build op: started, progress, ended (succeeded), its data = op.get's.
  std::vector<std::string> ops = all.Lines("op");
  ASSERT_GE(ops.size(), 3u);
  EXPECT_EQ(ops.front(), "started " + build_op + " running");
  EXPECT_NE(std::find(ops.begin(), ops.end(), "ended " + build_op + " succeeded"), ops.end());
  EXPECT_EQ(all.Lines("image"), (std::vector<std::string>{"created base ready", "deleted base"}));
  std::vector<std::string> vm = all.Lines("vm");
  ASSERT_GE(vm.size(), 4u);
  EXPECT_EQ(vm.front(), "created web1 creating");
  EXPECT_NE(std::find(vm.begin(), vm.end(), "changed web1 running"), vm.end());
  EXPECT_NE(std::find(vm.begin(), vm.end(), "changed web1 stopped"), vm.end());
  EXPECT_EQ(vm.back(), "deleted web1");
  for (const json& e : events) {
    if (e["kind"] == "vm" && e["action"] == "changed") {
      EXPECT_EQ(e["data"]["name"], "web1");
      EXPECT_TRUE(e["data"].contains("ip")) << e.dump();
    }
  }
}

TEST_F(EventsDaemonTest, KindsFilterAndBadKindRefused) {
  Subscriber images(layout_.socket, {{"kinds", {"image"}}});
  ASSERT_TRUE(images.WaitSubscribed());
  ASSERT_TRUE(CallAndWait("image.build", {{"name", "base"}}).ok());
  ASSERT_TRUE(images.WaitFor([](const std::vector<json>& e) { return e.size() >= 2; }));
  images.Stop();
  for (const json& e : images.Events()) {
    if (e["kind"] != "meta") EXPECT_EQ(e["kind"], "image") << e.dump();
  }
  Result<json> bad = client_->Call("events.subscribe", {{"kinds", {"vm", "nope"}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("nope"), std::string::npos);
}

// snapshot: the subscribed event carries what vm.list, image.list, op.list and
// session.ls answer (the dashboard's one round trip); without it, nothing.
TEST_F(EventsDaemonTest, SnapshotCarriesTheListsInTheSubscribedEvent) {
  ASSERT_TRUE(CallAndWait("image.build", {{"name", "base"}}).ok());
  Result<json> created = CallAndWait("vm.create", {{"name", "web1"}, {"image", "base"}});
  ASSERT_TRUE(created.ok()) << created.status().ToString();

  Subscriber snap(layout_.socket, {{"snapshot", true}});
  ASSERT_TRUE(snap.WaitSubscribed());
  Subscriber plain(layout_.socket, json::object());
  ASSERT_TRUE(plain.WaitSubscribed());
  const json data = snap.Events()[0]["data"];
  for (const auto& [field, method] : {std::pair{"vms", "vm.list"}, {"images", "image.list"},
                                      {"ops", "op.list"}, {"sessions", "session.ls"}}) {
    Result<json> listed = client_->Call(method, json::object());
    ASSERT_TRUE(listed.ok()) << method << ": " << listed.status().ToString();
    EXPECT_EQ(data[field], (*listed)[field]) << field;
  }
  ASSERT_EQ(data["vms"].size(), 1u);
  EXPECT_EQ(data["vms"][0]["name"], "web1");
  EXPECT_EQ(data["images"][0]["name"], "base");
  EXPECT_EQ(data["ops"].size(), 2u);
  EXPECT_EQ(plain.Events()[0]["data"], json::object());
  // Changes after the snapshot still stream.
  ASSERT_TRUE(client_->Call("vm.stop", {{"name", "web1"}}).ok());
  EXPECT_TRUE(snap.WaitFor([](const std::vector<json>& e) {
    return e.back()["kind"] == "vm" && e.back()["data"].value("state", "") == "stopped";
  }));
  Result<json> bad = client_->Call("events.subscribe", {{"snapshot", "yes"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
}

TEST_F(EventsDaemonTest, DescribeCarriesEveryMethodsDoc) {
  Result<json> d = client_->Call("rpc.methods", json::object());
  ASSERT_TRUE(d.ok());
  for (const json& m : (*d)["methods"]) {
    EXPECT_FALSE(m.value("summary", "").empty()) << m["name"] << " has no summary";
    EXPECT_FALSE(m.value("result", "").empty()) << m["name"] << " has no result";
  }
}

}  // namespace
}  // namespace warren
