#include "vm/caps/publish.h"

#include <gtest/gtest.h>

#include "../net/relay_test_util.h"
#include "vm/vm_manager.h"

namespace warren {
namespace {

using namespace relay_test;
using nlohmann::json;

class PublishCapTest : public ::testing::Test {
 protected:
  PublishCapTest() {
    Result<NetnsHandle> here = NetnsHandle::Current();
    ns_ = std::make_unique<NetnsHandle>(std::move(*here));
    Result<std::unique_ptr<PortRelay>> relay = PortRelay::Start(*ns_, {});
    EXPECT_TRUE(relay.ok());
    relay_ = std::move(*relay);
    cap_ = std::make_unique<PublishCapability>(*relay_, [this] { return stored_; });
    record_.id = "id-web";
    record_.name = "web";
    record_.ip = "127.0.0.1";  // the "guest" is the echo server on loopback
  }
  CapVm Vm() { return CapVm{record_, "/nonexistent"}; }
  std::string Spec(uint16_t host) { return std::to_string(host) + ":" + std::to_string(guest_.port()); }
  bool Echoes(uint16_t port) {
    UniqueFd c = Dial(port);
    if (!c.valid() || !SendAll(c.get(), "ping", 4)) return false;
    char buf[4];
    return RecvAll(c.get(), buf, 4) && std::string(buf, 4) == "ping";
  }

  TcpServer guest_{TcpServer::Mode::kEcho};
  std::unique_ptr<NetnsHandle> ns_;
  std::unique_ptr<PortRelay> relay_;
  std::vector<std::pair<std::string, json>> stored_;
  std::unique_ptr<PublishCapability> cap_;
  VmRecord record_;
  CreateRequest create_{.name = "web", .image = "default"};
};

TEST_F(PublishCapTest, ValidateStoresCanonicalSpecs) {
  const std::string tcp = std::to_string(FreePort()), udp = std::to_string(FreePort(SOCK_DGRAM));
  Result<json> settings = cap_->Validate(json::array({tcp + ":80", udp + ":53/udp"}), create_);
  ASSERT_TRUE(settings.ok()) << settings.status().ToString();
  EXPECT_EQ(*settings,
            json::array({"127.0.0.1:" + tcp + ":80/tcp", "127.0.0.1:" + udp + ":53/udp"}));
  EXPECT_EQ(cap_->Describe(*settings)[1],
            json({{"spec", "127.0.0.1:" + udp + ":53/udp"}, {"host_ip", "127.0.0.1"},
                  {"host_port", std::stoi(udp)}, {"guest_port", 53}, {"proto", "udp"}}));
}

TEST_F(PublishCapTest, ValidateRefusesBadSpecsAndDuplicates) {
  Result<json> bad = cap_->Validate(json::array({"80"}), create_);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
  EXPECT_FALSE(cap_->Validate(json("8080:80"), create_).ok()) << "a list, not a string";
  const std::string port = std::to_string(FreePort());
  Result<json> dup = cap_->Validate(json::array({port + ":80", "0.0.0.0:" + port + ":81"}), create_);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message().find("same host port"), std::string::npos);
}

TEST_F(PublishCapTest, HostPortHeldByAnotherVmIsRefusedNamingIt) {
  const std::string port = std::to_string(FreePort());
  stored_ = {{"db", json::array({"127.0.0.1:" + port + ":5432/tcp"})}};
  Result<json> taken = cap_->Validate(json::array({port + ":5432"}), create_);
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(taken.error().message().find("VM \"db\""), std::string::npos)
      << taken.error().message();
  EXPECT_TRUE(cap_->Validate(json::array({port + ":5432/udp"}), create_).ok()) << "udp is apart";
}

TEST_F(PublishCapTest, HostPortHeldByAnotherProgramIsRefused) {
  const uint16_t port = FreePort();
  UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = Loopback(port);
  ASSERT_EQ(::bind(holder.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(holder.get(), 1), 0);
  Result<json> taken = cap_->Validate(json::array({Spec(port)}), create_);
  ASSERT_FALSE(taken.ok());
  EXPECT_NE(taken.error().message().find("another program"), std::string::npos)
      << taken.error().message();
}

TEST_F(PublishCapTest, ListensFromReadyToStopAndAgainAfterRestart) {
  const uint16_t port = FreePort();
  Result<json> settings = cap_->Validate(json::array({Spec(port)}), create_);
  ASSERT_TRUE(settings.ok());
  EXPECT_FALSE(Echoes(port));
  ASSERT_TRUE(cap_->OnReady(Vm(), *settings).ok());
  EXPECT_TRUE(Echoes(port));
  cap_->OnStop(Vm(), *settings);
  EXPECT_FALSE(Echoes(port)) << "stopped VM: no listener";
  ASSERT_TRUE(cap_->OnAdopt(Vm(), *settings).ok());  // daemon restart / vm start
  EXPECT_TRUE(Echoes(port));
  cap_->OnDelete(Vm(), *settings);
  EXPECT_FALSE(Echoes(port));
  EXPECT_TRUE(cap_->ListeningFor(record_.id).empty());
  EXPECT_EQ(relay_->GetStats().listeners, 0u);
}

TEST_F(PublishCapTest, ReadyFailsWholeWhenOnePortIsTaken) {
  const uint16_t free_port = FreePort(), taken_port = FreePort();
  json settings = json::array({Spec(free_port), Spec(taken_port)});
  UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = Loopback(taken_port);
  ASSERT_EQ(::bind(holder.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  Status ready = cap_->OnReady(Vm(), settings);
  ASSERT_FALSE(ready.ok());
  EXPECT_NE(ready.message().find("VM \"web\""), std::string::npos) << ready.message();
  EXPECT_EQ(relay_->GetStats().listeners, 0u) << "the first listener is undone";
}

TEST_F(PublishCapTest, ChangePublishesAndUnpublishesLive) {
  const uint16_t port = FreePort();
  json settings = json::array();
  ASSERT_TRUE(cap_->OnReady(Vm(), settings).ok());
  Result<json> added = cap_->Change(Vm(), settings, {{"publish", Spec(port)}}, true);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(added->size(), 1u);
  EXPECT_TRUE(Echoes(port));
  EXPECT_EQ(cap_->Change(Vm(), *added, {{"publish", Spec(port)}}, true).status().code(),
            Code::kAlreadyExists);
  EXPECT_EQ(cap_->Change(Vm(), *added, {{"unpublish", "1:2"}}, true).status().code(),
            Code::kNotFound);
  Result<json> removed = cap_->Change(Vm(), *added, {{"unpublish", Spec(port)}}, true);
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(removed->empty());
  EXPECT_FALSE(Echoes(port));
  EXPECT_EQ(cap_->Change(Vm(), *removed, {{"expose", "1:2"}}, true).status().code(),
            Code::kInvalidArgument);
}

TEST_F(PublishCapTest, ChangeOnAStoppedVmOnlyStores) {
  const uint16_t port = FreePort();
  Result<json> added = cap_->Change(Vm(), json::array(), {{"publish", Spec(port)}}, false);
  ASSERT_TRUE(added.ok());
  EXPECT_FALSE(Echoes(port));
  ASSERT_TRUE(cap_->OnReady(Vm(), *added).ok());
  EXPECT_TRUE(Echoes(port));
  cap_->OnDelete(Vm(), *added);
}

}  // namespace
}  // namespace warren
