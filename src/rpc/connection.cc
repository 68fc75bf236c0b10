#include "rpc/connection.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <variant>

#include "rpc/errors.h"

namespace warren::rpc {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Stream output is cut into frames of at most this size so a client with a
// small max_frame_bytes still accepts them.
constexpr size_t kStreamChunkBytes = 64 * 1024;
constexpr size_t kReadChunkBytes = 64 * 1024;
constexpr int kBusyRecheckMillis = 1000;

int MillisUntil(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(std::min<int64_t>(left, 1 << 30));
}

}  // namespace

Connection::Connection(int fd, PeerCred peer, int stop_fd, ConnectionLimits limits,
                       const Dispatcher* dispatcher)
    : fd_(fd), peer_(peer), stop_fd_(stop_fd), limits_(limits), dispatcher_(dispatcher) {
  MutexLock lock(&mu_);
  last_activity_ = Clock::now();
}

Connection::~Connection() {
  // Run() closes fd_; a Connection that never ran still owns it.
  MutexLock lock(&write_mu_);
  if (!fd_closed_) ::close(fd_);
}

void Connection::Run() {
  try {
    worker_ = std::thread([this] { WorkerLoop(); });
  } catch (const std::exception& e) {  // out of threads: this client goes, the rest stay
    spdlog::error("rpc: dropping connection from uid {} pid {}: cannot start its worker: {}",
                  peer_.uid, peer_.pid, e.what());
  }
  if (worker_.joinable()) {
    FrameDecoder decoder(limits_.max_frame_bytes);
    while (ReadContained(&decoder)) {
    }
  }
  CloseAll();
  done_.store(true, std::memory_order_release);
}

bool Connection::ReadContained(FrameDecoder* decoder) {
  // Nothing a client sends may throw past this point: the reader thread
  // carries no other call, so ending this connection contains the damage.
  try {
    return ReadLoopOnce(decoder);
  } catch (const std::exception& e) {
    spdlog::error("rpc: dropping connection from uid {} pid {}: reading its input threw: {}",
                  peer_.uid, peer_.pid, e.what());
  } catch (...) {
    spdlog::error("rpc: dropping connection from uid {} pid {}: reading its input threw",
                  peer_.uid, peer_.pid);
  }
  return false;
}

bool Connection::ReadLoopOnce(FrameDecoder* decoder) {
  pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  int n = ::poll(fds, 2, IdleWaitMillis());
  if (n < 0) return errno == EINTR;
  if (fds[1].revents != 0) return false;  // server shutting down
  if (n == 0) {
    if (!IdleExpired()) return true;
    spdlog::info("rpc: closing idle connection from uid {} pid {}", peer_.uid, peer_.pid);
    return false;
  }
  char buf[kReadChunkBytes];
  ssize_t got = ::read(fd_, buf, sizeof(buf));
  if (got < 0) return errno == EINTR || errno == EAGAIN;
  if (got == 0) return false;  // client closed
  decoder->Feed(std::string_view(buf, static_cast<size_t>(got)));
  while (true) {
    Result<std::optional<Frame>> next = decoder->Next();
    if (!next.ok()) {
      // The byte stream cannot be resynchronised: say why, then close.
      spdlog::warn("rpc: dropping connection from uid {} pid {}: {}", peer_.uid, peer_.pid,
                   next.error().message());
      (void)WriteFrame(EncodeJsonFrame(
          MakeError(nullptr, JsonRpcError{kInvalidRequest, next.error().message(), nullptr})));
      return false;
    }
    if (!next->has_value()) return true;
    if (!HandleFrame(std::move(**next))) return false;
  }
}

bool Connection::HandleFrame(Frame frame) {
  std::shared_ptr<Sink> sink;
  {
    MutexLock lock(&mu_);
    last_activity_ = Clock::now();
    if (frame.kind == FrameKind::kStream) {
      auto it = sinks_.find(frame.stream);
      if (it != sinks_.end()) sink = it->second;
    }
  }
  if (frame.kind == FrameKind::kJson) return HandleJson(frame.payload);
  if (sink) {
    // A sink is handler code running on the reader thread; if it throws, the
    // call it belongs to cannot be trusted with more input: end the connection
    // (which cancels the call) and keep the daemon.
    try {
      (*sink)(frame.channel, frame.payload);
    } catch (const std::exception& e) {
      spdlog::error("rpc: dropping connection from uid {} pid {}: the sink of stream {} threw: {}",
                    peer_.uid, peer_.pid, frame.stream, e.what());
      return false;
    } catch (...) {
      spdlog::error("rpc: dropping connection from uid {} pid {}: the sink of stream {} threw",
                    peer_.uid, peer_.pid, frame.stream);
      return false;
    }
  } else {
    spdlog::debug("rpc: dropping {} bytes for unknown stream {}", frame.payload.size(),
                  frame.stream);
  }
  return true;
}

bool Connection::HandleJson(std::string_view payload) {
  auto parsed = ParseRequest(payload);
  if (auto* err = std::get_if<RequestError>(&parsed)) {
    return WriteFrame(EncodeJsonFrame(MakeError(err->id, err->error))).ok();
  }
  Request& req = std::get<Request>(parsed);
  if (req.notification && req.method == kCancelMethod) {
    if (req.params.is_object() && req.params.contains("id")) CancelById(req.params["id"]);
    return true;
  }
  {
    MutexLock lock(&mu_);
    size_t pending = queue_.size() + (in_flight_ ? 1 : 0);
    if (pending < static_cast<size_t>(limits_.max_requests)) {
      queue_.push_back(Pending{std::move(req), std::stop_source()});
      work_cv_.Signal();
      return true;
    }
  }
  if (req.notification) return true;  // nobody to tell
  Status full = ResourceExhausted("too many pending requests on this connection (limit " +
                                  std::to_string(limits_.max_requests) +
                                  "); wait for replies before sending more");
  return WriteFrame(EncodeJsonFrame(MakeError(req.id, StatusToJsonRpcError(full)))).ok();
}

void Connection::CancelById(const json& id) {
  MutexLock lock(&mu_);
  if (in_flight_ && in_flight_id_ == id) {
    in_flight_stop_.request_stop();
    return;
  }
  for (Pending& p : queue_) {
    if (!p.request.notification && p.request.id == id) p.stop.request_stop();
  }
}

int Connection::IdleWaitMillis() {
  if (limits_.idle_timeout.count() <= 0) return -1;  // idle timeout disabled
  MutexLock lock(&mu_);
  // While a call runs, look again later: the idle clock restarts when it ends.
  if (in_flight_ || !queue_.empty()) return kBusyRecheckMillis;
  return MillisUntil(last_activity_ + limits_.idle_timeout);
}

bool Connection::IdleExpired() {
  if (limits_.idle_timeout.count() <= 0) return false;
  MutexLock lock(&mu_);
  return !in_flight_ && queue_.empty() && Clock::now() - last_activity_ >= limits_.idle_timeout;
}

void Connection::CloseAll() {
  {
    MutexLock lock(&mu_);
    closing_ = true;
    if (in_flight_) in_flight_stop_.request_stop();
    for (Pending& p : queue_) p.stop.request_stop();
    queue_.clear();
    sinks_.clear();
    work_cv_.SignalAll();
  }
  // The worker returns once its current handler honours the stop token.
  if (worker_.joinable()) worker_.join();
  MutexLock lock(&write_mu_);
  fd_closed_ = true;
  ::close(fd_);
}

void Connection::WorkerLoop() {
  while (true) {
    Pending pending;
    {
      MutexLock lock(&mu_);
      while (!closing_ && queue_.empty()) work_cv_.Wait(&mu_);
      if (closing_) return;
      pending = std::move(queue_.front());
      queue_.pop_front();
      in_flight_ = true;
      in_flight_id_ = pending.request.id;
      in_flight_stop_ = pending.stop;
    }
    Execute(pending);
    MutexLock lock(&mu_);
    in_flight_ = false;
    last_activity_ = Clock::now();
  }
}

void Connection::Execute(Pending& pending) {
  const Request& req = pending.request;
  const MethodRow* row = dispatcher_->Find(req.method);
  if (row != nullptr && row->mutation == Mutation::kMutating) {
    spdlog::info("rpc: uid {} pid {} calls {}", peer_.uid, peer_.pid, req.method);
  } else {
    spdlog::debug("rpc: uid {} pid {} calls {}", peer_.uid, peer_.pid, req.method);
  }
  std::string reply;
  std::vector<uint32_t> streams;
  try {
    if (pending.stop.stop_requested()) {
      reply = MakeError(req.id, StatusToJsonRpcError(Cancelled("request cancelled before it ran")));
    } else {
      CallContext ctx = MakeContext(pending, &streams);
      reply = dispatcher_->HandleRequest(req, ctx);
    }
  } catch (const std::exception& e) {
    // The Dispatcher already turns handler exceptions into Internal; this is
    // the transport's own work (context, reply text). Fail the call only.
    spdlog::error("rpc: call {} from uid {} pid {} failed: {}", req.method, peer_.uid, peer_.pid,
                  e.what());
    reply = MakeError(req.id, StatusToJsonRpcError(Internal(
                                  std::string("the daemon failed this call: ") + e.what())));
  }
  {
    MutexLock lock(&mu_);
    for (uint32_t s : streams) sinks_.erase(s);
  }
  if (!req.notification) (void)WriteFrame(EncodeJsonFrame(reply));
}

CallContext Connection::MakeContext(const Pending& pending, std::vector<uint32_t>* streams) {
  std::shared_ptr<Connection> self = shared_from_this();
  CallContext ctx;
  ctx.peer = peer_;
  ctx.stop = pending.stop.get_token();
  ctx.notify = [self](std::string_view method, const json& params) {
    return self->WriteFrame(EncodeJsonFrame(MakeNotification(method, params)));
  };
  ctx.send_stream = [self](uint32_t stream, uint8_t channel, std::string_view bytes) {
    return self->SendStreamChunks(stream, channel, bytes);
  };
  // `streams` lives on the worker's stack for the duration of the call, which is
  // exactly how long on_stream may be used.
  ctx.on_stream = [self, streams](uint32_t stream, Sink sink) {
    MutexLock lock(&self->mu_);
    if (self->closing_) return;
    self->sinks_[stream] = std::make_shared<Sink>(std::move(sink));
    streams->push_back(stream);
  };
  return ctx;
}

Status Connection::SendStreamChunks(uint32_t stream, uint8_t channel, std::string_view bytes) {
  do {
    std::string_view chunk = bytes.substr(0, kStreamChunkBytes);
    bytes.remove_prefix(chunk.size());
    RETURN_IF_ERROR(WriteFrame(EncodeStreamFrame(stream, channel, chunk)));
  } while (!bytes.empty());
  return Status::Ok();
}

Status Connection::WriteFrame(std::string_view bytes) {
  MutexLock lock(&write_mu_);
  if (fd_closed_ || broken_) return Unavailable("the client connection is closed");
  const Clock::time_point deadline = Clock::now() + limits_.send_timeout;
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && Clock::now() < deadline) {
      pollfd fds[2] = {{fd_, POLLOUT, 0}, {stop_fd_, POLLIN, 0}};
      if (::poll(fds, 2, MillisUntil(deadline)) >= 0 && fds[1].revents == 0) continue;
    }
    // Failed, timed out or shutting down: a half-written frame poisons the
    // stream, so the connection goes. shutdown() wakes the reader, which closes.
    broken_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    spdlog::warn("rpc: dropping connection from uid {} pid {}: write failed or timed out",
                 peer_.uid, peer_.pid);
    return Unavailable("the client connection is closed");
  }
  return Status::Ok();
}

}  // namespace warren::rpc
