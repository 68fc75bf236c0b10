#include "rpc/rpc_socket_test_util.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "rpc/jsonrpc.h"
#include "rpc/test_methods.h"

namespace warren::rpc::testing {

namespace {
constexpr int kHangGuardMillis = 30000;
}  // namespace

TempDir::TempDir() {
  char tmpl[] = "/tmp/wrpc-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

RawConn::RawConn(const std::filesystem::path& socket) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ADD_FAILURE() << "connect " << socket << ": " << std::strerror(errno);
    Close();
  }
}

RawConn::~RawConn() { Close(); }

void RawConn::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RawConn::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;  // the server may legitimately have closed on us
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void RawConn::SendJson(const nlohmann::json& message) { Send(EncodeJsonFrame(message.dump())); }

std::optional<Frame> RawConn::ReadFrame() {
  while (true) {
    auto next = decoder_.Next();
    if (!next.ok()) {
      ADD_FAILURE() << "server sent a bad frame: " << next.error().ToString();
      return std::nullopt;
    }
    if (next->has_value()) return std::move(**next);
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, kHangGuardMillis) <= 0) {
      ADD_FAILURE() << "no data from the server within the hang guard";
      return std::nullopt;
    }
    char buf[65536];
    ssize_t n = ::read(fd_, buf, sizeof(buf));
    if (n <= 0) {
      eof_ = true;
      return std::nullopt;
    }
    decoder_.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

nlohmann::json RawConn::ReadJson() {
  while (auto frame = ReadFrame()) {
    if (frame->kind == FrameKind::kJson) return nlohmann::json::parse(frame->payload);
  }
  return nullptr;
}

bool RawConn::WaitEof() {
  while (ReadFrame()) {
  }
  return eof_;
}

ServerHarness::ServerHarness(ServerOptions options, std::unique_ptr<Dispatcher> dispatcher)
    : dispatcher_(dispatcher ? std::move(dispatcher) : MakeTestDispatcher()) {
  socket_ = dir_.path() / "warren.sock";
  options.socket = socket_;
  auto server = Server::Listen(options, dispatcher_.get());
  if (!server.ok()) {
    ADD_FAILURE() << "Listen: " << server.error().ToString();
    return;
  }
  server_ = std::move(*server);
  serve_thread_ = std::thread([this] { server_->Serve(); });
}

ServerHarness::~ServerHarness() { Shutdown(); }

void ServerHarness::Shutdown() {
  if (server_) server_->Shutdown();
  if (serve_thread_.joinable()) serve_thread_.join();
}

}  // namespace warren::rpc::testing
