// vm.proxy on a whole Daemon over fakes: the VM subnet is on loopback
// (127.77.0.0/24; the fake network's guest sockets are the host's), so a
// listener on the fake VM's address stands in for the guest's port. Runs as an
// ordinary user and under TSan: the reader thread's stdin sink and the call's
// relay loop meet in ProxyInput.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "daemon/daemon.h"
#include "fakes/fake_daemon_deps.h"
#include "rpc/client.h"
#include "rpc/frame.h"
#include "rpc/stream_control.h"
#include "sys/unique_fd.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Accepts one connection on ip:0 and echoes it in upper case until EOF,
// then closes. Every wait has a deadline.
class UpperEcho {
 public:
  explicit UpperEcho(const std::string& ip) {
    fd_.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(fd_.get(), 4) != 0) {
      return;
    }
    socklen_t len = sizeof(a);
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~UpperEcho() {
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }
  size_t echoed() const { return echoed_; }  // after the object's thread ended

 private:
  void Serve() {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) return;
    UniqueFd c(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    char buf[4096];
    while (true) {
      pollfd q{c.get(), POLLIN, 0};
      if (::poll(&q, 1, 20000) != 1) return;
      ssize_t n = ::read(c.get(), buf, sizeof(buf));
      if (n <= 0) return;  // EOF passed on by the proxy: close ours
      for (ssize_t i = 0; i < n; ++i) buf[i] = static_cast<char>(std::toupper(buf[i]));
      if (::write(c.get(), buf, static_cast<size_t>(n)) != n) return;
      echoed_ += static_cast<size_t>(n);
    }
  }
  UniqueFd fd_;
  int port_ = 0;
  size_t echoed_ = 0;
  std::thread thread_;
};

class ProxyDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warren-proxy-daemon-XXXXXX";
    layout_ = Layout::ForRoot(mkdtemp(tmpl));
    ASSERT_TRUE(layout_.Ensure().ok());
    std::ofstream(layout_.config_file)
        << "[network]\nsubnet = \"127.77.0.0/24\"\n[dns]\nhost_listen = \"127.0.0.1:0\"\n"
           "[web]\nlisten = \"127.0.0.1:0\"\n";
    auto d = Daemon::Open(layout_, std::move(fakes_.deps));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    daemon_ = std::move(d).value();
    serve_ = std::thread([this] { (void)daemon_->Serve(); });
  }
  void TearDown() override {
    if (daemon_) {
      EXPECT_TRUE(daemon_->Close().ok());
      serve_.join();
    }
    fs::remove_all(layout_.root);
  }
  std::unique_ptr<rpc::Client> Connect() {
    auto c = rpc::Client::Connect(layout_.socket);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  // A running fake VM; its address.
  std::string CreateVm(rpc::Client& c) {
    Result<json> build = c.Call("image.build", {{"name", "base"}});
    EXPECT_TRUE(build.ok()) << build.status().ToString();
    EXPECT_TRUE(c.Call("op.wait", {{"id", (*build)["op"]}}).ok());
    Result<json> vm = c.Call("vm.create", {{"name", "web"}, {"image", "base"}});
    EXPECT_TRUE(vm.ok()) << vm.status().ToString();
    Result<json> op = c.Call("op.wait", {{"id", (*vm)["op"]}});
    EXPECT_EQ((*op)["state"], "succeeded") << op->dump();
    Result<json> info = c.Call("vm.inspect", {{"name", "web"}});
    return info.ok() ? info->value("ip", "") : "";
  }

  FakeDaemonDeps fakes_;
  Layout layout_;
  std::unique_ptr<Daemon> daemon_;
  std::thread serve_;
};

TEST_F(ProxyDaemonTest, RelaysBothWaysAndPassesEofOn) {
  std::unique_ptr<rpc::Client> c = Connect();
  ASSERT_TRUE(c);
  const std::string ip = CreateVm(*c);
  ASSERT_EQ(ip.rfind("127.77.0.", 0), 0u) << ip;
  UpperEcho echo(ip);
  ASSERT_NE(echo.port(), 0);

  // Input goes out in pieces once the daemon says ready, then EOF; the echo
  // closes after EOF, which ends the call.
  std::string out;
  bool sent = false;
  const std::string input = "hello from the proxy test\n";
  auto on_stream = [&](uint32_t, uint8_t channel, std::string_view bytes) {
    if (channel == rpc::kChannelStdout) out.append(bytes);
    if (channel != rpc::kChannelControl || sent) return;
    Result<rpc::StreamControl> ctl = rpc::StreamControl::Parse(bytes);
    if (!ctl.ok() || !ctl->ready) return;
    sent = true;
    ASSERT_TRUE(c->SendStream(1, rpc::kChannelStdin, input.substr(0, 6)).ok());
    ASSERT_TRUE(c->SendStream(1, rpc::kChannelStdin, input.substr(6)).ok());
    ASSERT_TRUE(c->SendStream(1, rpc::kChannelControl, rpc::ControlEof()).ok());
  };
  Result<json> r = c->Call("vm.proxy", {{"vm", "web"}, {"port", echo.port()}, {"stream", 1}}, {},
                           on_stream);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(out, "HELLO FROM THE PROXY TEST\n");
  EXPECT_EQ((*r)["bytes_in"], input.size());
  EXPECT_EQ((*r)["bytes_out"], input.size());
}

TEST_F(ProxyDaemonTest, RefusedPortAndUnknownVmAreErrors) {
  std::unique_ptr<rpc::Client> c = Connect();
  ASSERT_TRUE(c);
  const std::string ip = CreateVm(*c);
  // A port nobody listens on (bound, not listening, so it stays ours).
  UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  ASSERT_EQ(::bind(holder.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ::getsockname(holder.get(), reinterpret_cast<sockaddr*>(&a), &len);
  Result<json> refused = c->Call("vm.proxy", {{"vm", "web"}, {"port", ntohs(a.sin_port)}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Code::kUnavailable) << refused.error().ToString();
  Result<json> missing = c->Call("vm.proxy", {{"vm", "nope"}, {"port", 22}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Code::kNotFound) << missing.error().ToString();
  Result<json> bad_key =
      c->Call("vm.proxy", {{"vm", "web"}, {"port", 22}, {"authorize_key", "not a key"}});
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.error().code(), Code::kInvalidArgument) << bad_key.error().ToString();
}

TEST_F(ProxyDaemonTest, KnownHostsListsTheRunningVmsPinnedKey) {
  std::unique_ptr<rpc::Client> c = Connect();
  ASSERT_TRUE(c);
  CreateVm(*c);
  Result<json> r = c->Call("vm.known_hosts", json::object());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ((*r)["hosts"].size(), 1u) << r->dump();
  EXPECT_EQ((*r)["hosts"][0]["vm"], "web");
  EXPECT_EQ((*r)["hosts"][0]["host_key"].get<std::string>().rfind("ssh-ed25519 ", 0), 0u);
  EXPECT_EQ((*r)["domain"], "warren.internal");
}

}  // namespace
}  // namespace warren
