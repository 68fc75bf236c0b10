// The whole connection input path: fuzzer bytes go through a socketpair into a
// real rpc::Connection (reader thread, frame decoder, JSON-RPC parse, typed
// params, the dispatcher on the worker) whose dispatcher has stream-sink
// methods, so stream frames reach live sinks with fuzzed control payloads.
// Must never crash, hang or let an exception escape; errors and dropped
// connections are fine.
//
// To reach the sinks deterministically the harness writes the input frame by
// frame and, after a request for a stream_* method, waits until the handler
// said "ready" (its sink is registered) or answered. Bytes that do not decode
// as frames are written as they are, ending the input.
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

#include "rpc/connection.h"
#include "rpc/frame.h"
#include "rpc/test_methods.h"

namespace {

using namespace warren::rpc;
using nlohmann::json;

constexpr uint32_t kMaxFrame = 1 << 16;

// Reads what the server sends back, noting how many "ready" notifications and
// responses arrived so the writer can wait for a sink to be registered.
class Drain {
 public:
  explicit Drain(int fd) : fd_(fd), thread_([this] { Loop(); }) {}
  ~Drain() { thread_.join(); }  // returns at EOF (the connection closed its end)

  // Waits (bounded) until `count` answers (ready or response) have been seen.
  void WaitAnswers(int count) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return answers_ >= count || eof_; });
  }

 private:
  void Loop() {
    FrameDecoder decoder(1u << 30);
    char buf[64 * 1024];
    while (true) {
      ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) break;
      decoder.Feed(std::string_view(buf, static_cast<size_t>(n)));
      while (true) {
        auto next = decoder.Next();
        if (!next.ok() || !next->has_value()) break;
        if ((*next)->kind != FrameKind::kJson) continue;
        json msg = json::parse((*next)->payload, nullptr, false);
        if (!msg.is_object()) continue;
        bool answer = msg.contains("id") || msg.value("method", json()) == "ready";
        if (!answer) continue;
        std::lock_guard<std::mutex> lock(mu_);
        ++answers_;
        cv_.notify_all();
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    eof_ = true;
    cv_.notify_all();
  }

  const int fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  int answers_ = 0;
  bool eof_ = false;
  std::thread thread_;
};

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A request the harness should wait on: a stream method with an id.
bool StartsAStream(const Frame& frame) {
  if (frame.kind != FrameKind::kJson) return false;
  json msg = json::parse(frame.payload, nullptr, false);
  if (!msg.is_object() || !msg.contains("id")) return false;
  const json method = msg.value("method", json());
  return method.is_string() && method.get<std::string>().rfind("stream_", 0) == 0;
}

void Feed(int fd, Drain* drain, std::string_view input) {
  FrameDecoder decoder(kMaxFrame);
  decoder.Feed(input);
  size_t consumed = 0;
  int waited = 0;
  while (true) {
    auto next = decoder.Next();
    if (!next.ok() || !next->has_value()) break;
    std::string bytes = EncodeFrame(**next);
    consumed += bytes.size();
    if (!WriteAll(fd, bytes)) return;
    if (StartsAStream(**next)) drain->WaitAnswers(++waited);
  }
  // Whatever did not decode (garbage, a partial or oversized frame) goes as is.
  if (consumed < input.size()) (void)WriteAll(fd, input.substr(consumed));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<Dispatcher> dispatcher = testing::MakeTestDispatcher();
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return 0;
  int stop[2];
  if (::pipe2(stop, O_CLOEXEC) != 0) return 0;
  ConnectionLimits limits{kMaxFrame, 8, std::chrono::milliseconds(0),
                          std::chrono::milliseconds(2000)};
  auto conn = std::make_shared<Connection>(fds[0], PeerCred{}, stop[0], limits, dispatcher.get());
  std::thread reader([conn] { conn->Run(); });
  {
    Drain drain(fds[1]);
    Feed(fds[1], &drain, std::string_view(reinterpret_cast<const char*>(data), size));
    ::shutdown(fds[1], SHUT_WR);  // EOF: the connection cancels its calls and closes
    reader.join();
  }
  ::close(fds[1]);
  ::close(stop[0]);
  ::close(stop[1]);
  return 0;
}
