#include "cli/session_io.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "base/mutex.h"
#include "rpc/frame.h"
#include "rpc/stream_control.h"
#include "sys/files.h"

namespace warren::cli {
namespace {

using json = nlohmann::json;
constexpr uint32_t kStream = 1;

// Raw mode for a terminal stdin, restored by the destructor.
class RawTerminal {
 public:
  explicit RawTerminal(bool want) {
    if (!want || ::isatty(0) == 0 || ::tcgetattr(0, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(0, TCSANOW, &saved_);
  }

 private:
  termios saved_{};
  bool active_ = false;
};

// State shared by the calling thread (which runs Call and reads frames), the
// stdin pump and the signal thread.
struct Shared {
  Mutex mu{LockRank::kLeaf, "cli stream window"};
  CondVar cv{&mu};
  uint64_t sent GUARDED_BY(mu) = 0;
  uint64_t acked GUARDED_BY(mu) = 0;
  bool ready GUARDED_BY(mu) = false;  // the daemon takes stdin now
  std::atomic<bool> done{false};
  std::atomic<bool> interrupted{false};
  std::atomic<bool> detached{false};
  int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  ~Shared() { ::close(stop_fd); }
};


void PumpStdin(rpc::Client* client, Shared& s, const StreamCallOptions& o) {
  {
    MutexLock lock(&s.mu);
    while (!s.done && !s.ready) s.cv.WaitFor(&s.mu, std::chrono::milliseconds(200));
  }
  char buf[64 * 1024];
  while (!s.done) {
    pollfd fds[2] = {{o.stdin_fd, POLLIN, 0}, {s.stop_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) return;
    ssize_t n = ::read(o.stdin_fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      (void)client->SendStream(kStream, rpc::kChannelControl, rpc::ControlEof());
      return;
    }
    std::string_view chunk(buf, static_cast<size_t>(n));
    if (o.detach_byte >= 0) {
      size_t at = chunk.find(static_cast<char>(o.detach_byte));
      if (at != std::string_view::npos) {
        if (at > 0) (void)client->SendStream(kStream, rpc::kChannelStdin, chunk.substr(0, at));
        s.detached = true;
        client->Cancel();
        return;
      }
    }
    if (o.use_ack_window) {
      MutexLock lock(&s.mu);
      while (!s.done && s.sent - s.acked + chunk.size() > rpc::kStdinWindowBytes) {
        s.cv.WaitFor(&s.mu, std::chrono::milliseconds(200));
      }
      s.sent += chunk.size();
    }
    if (!client->SendStream(kStream, rpc::kChannelStdin, chunk).ok()) return;
  }
}

// Forwards SIGINT (twice = cancel), SIGTERM/SIGHUP (cancel) and SIGWINCH
// (resize) until done. The signals are blocked in every thread and taken here;
// SIGUSR2 (sent to this thread by RunStreamCall) only says "done".
void HandleSignals(rpc::Client* client, Shared& s, const sigset_t& set) {
  while (!s.done) {
    timespec tick{0, 200 * 1000 * 1000};
    int sig = ::sigtimedwait(&set, nullptr, &tick);
    if (sig < 0 || sig == SIGUSR2) continue;
    if (sig == SIGWINCH) {
      int cols = 0, rows = 0;
      if (TerminalSize(&cols, &rows)) {
        (void)client->SendStream(kStream, rpc::kChannelControl, rpc::ControlResize(cols, rows));
      }
    } else if (sig == SIGINT && !s.interrupted) {
      s.interrupted = true;
      (void)client->SendStream(kStream, rpc::kChannelControl, rpc::ControlSignal("INT"));
    } else {
      client->Cancel();
    }
  }
}

}  // namespace

bool TerminalSize(int* cols, int* rows) {
  winsize ws{};
  for (int fd : {1, 0, 2}) {
    if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
      *cols = ws.ws_col;
      *rows = ws.ws_row;
      return true;
    }
  }
  return false;
}

Result<StreamCallResult> RunStreamCall(CliContext& ctx, const std::string& method, json params,
                                       const StreamCallOptions& o) {
  ASSIGN_OR_RETURN(rpc::Client * client, ctx.Client());
  params["stream"] = kStream;
  Shared s;
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGUSR2}) sigaddset(&set, sig);
  sigset_t old;
  ::pthread_sigmask(SIG_BLOCK, &set, &old);
  RawTerminal raw(o.raw_terminal);
  std::thread signals([&] { HandleSignals(client, s, set); });
  std::thread input;
  if (o.forward_stdin) input = std::thread([&] { PumpStdin(client, s, o); });

  bool output_broken = false;
  auto on_stream = [&](uint32_t stream, uint8_t channel, std::string_view bytes) {
    if (stream != kStream) return;
    if (channel == rpc::kChannelControl) {
      Result<rpc::StreamControl> c = rpc::StreamControl::Parse(bytes);
      if (!c.ok()) return;  // not from a warren daemon of this version: ignore it
      MutexLock lock(&s.mu);
      if (c->ack) s.acked = std::max<uint64_t>(s.acked, *c->ack);
      if (c->ready) s.ready = true;
      s.cv.SignalAll();
      return;
    }
    int fd = channel == rpc::kChannelStderr ? 2 : 1;
    bool written = o.on_output ? o.on_output(channel, bytes) : WriteFully(fd, bytes);
    if (!written && !output_broken) {
      output_broken = true;  // e.g. `| head` closed the pipe: stop the command
      client->Cancel();
    }
  };
  Result<json> reply = client->Call(method, params, {}, on_stream);
  s.done = true;
  uint64_t one = 1;
  ssize_t ignored = ::write(s.stop_fd, &one, sizeof(one));
  (void)ignored;
  {
    MutexLock lock(&s.mu);
    s.cv.SignalAll();
  }
  if (input.joinable()) input.join();
  ::pthread_kill(signals.native_handle(), SIGUSR2);  // ends its wait now, not at the next tick
  signals.join();
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!reply.ok()) {
    if (s.detached && reply.error().code() == Code::kCancelled) {
      return StreamCallResult{json::object(), s.interrupted, true};
    }
    return reply.error();
  }
  return StreamCallResult{*reply, s.interrupted, s.detached};
}

}  // namespace warren::cli
