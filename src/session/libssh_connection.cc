#include "session/libssh_connection.h"

#include <libssh/server.h>  // ssh_send_keepalive: declared there, usable by clients
#include <poll.h>

#include <algorithm>

#include "session/libssh_channel.h"

namespace warren {
namespace {

struct ChannelDeleter {
  void operator()(ssh_channel c) const { ssh_channel_free(c); }  // closes it if still open
};
using ChannelPtr = std::unique_ptr<ssh_channel_struct, ChannelDeleter>;

constexpr size_t kWriteChunk = 32 * 1024;
// Idle wait between pump rounds; also how soon a stop request is noticed.
constexpr int kIdleWaitMs = 50;

// The exec pump runs the session non-blocking so stdin can be fed while output
// is drained (a blocking write of a large stdin would deadlock against a
// command whose output fills the window). Restores blocking mode on scope exit.
class NonBlockingScope {
 public:
  explicit NonBlockingScope(ssh_session s) : s_(s) { ssh_set_blocking(s_, 0); }
  ~NonBlockingScope() { ssh_set_blocking(s_, 1); }
  NonBlockingScope(const NonBlockingScope&) = delete;
  NonBlockingScope& operator=(const NonBlockingScope&) = delete;

 private:
  ssh_session s_;
};

// Streams stdin in and stdout/stderr out until the remote closes both.
class Pump {
 public:
  Pump(ssh_session s, ssh_channel ch, std::string_view in) : s_(s), ch_(ch), in_(in) {}

  // Fills `result` until both streams end; the first failure or a stop ends it
  // early.
  Status Run(const std::stop_token& stop, const std::string& what,
             GuestConnection::ExecResult& result) {
    while (!(done_[0] && done_[1])) {
      if (stop.stop_requested()) return Cancelled(what + " cancelled");
      bool progress = false;
      RETURN_IF_ERROR(FeedStdin(what, progress));
      for (int stream = 0; stream < 2; ++stream) {
        if (done_[stream]) continue;
        int n = ssh_channel_read_nonblocking(ch_, buf_, sizeof(buf_), stream);
        if (n > 0) {
          (stream == 0 ? result.out : result.err).append(buf_, static_cast<size_t>(n));
          progress = true;
        } else if (n == SSH_EOF) {
          done_[stream] = true;
        } else if (n < 0) {
          return Unavailable(what + ": reading output: " + ssh_get_error(s_));
        }
      }
      if (!progress && !(done_[0] && done_[1])) {
        // Queued stdin, EOF or window adjusts leave only in a libssh poll
        // that sees the socket writable (see LibsshConnection::Flush).
        bool pending = (ssh_get_status(s_) & SSH_WRITE_PENDING) != 0;
        pollfd pfd{ssh_get_fd(s_), static_cast<short>(POLLIN | (pending ? POLLOUT : 0)), 0};
        ::poll(&pfd, 1, kIdleWaitMs);
        if (pending && ssh_blocking_flush(s_, 0) == SSH_ERROR) {
          return Unavailable(what + ": sending: " + ssh_get_error(s_));
        }
      }
    }
    return Status::Ok();
  }

 private:
  Status FeedStdin(const std::string& what, bool& progress) {
    if (eof_sent_) return Status::Ok();
    bool remote_gone = ssh_channel_is_closed(ch_) != 0 || ssh_channel_is_eof(ch_) != 0;
    if (written_ < in_.size() && !remote_gone) {
      size_t len = std::min(kWriteChunk, in_.size() - written_);
      int n = ssh_channel_write(ch_, in_.data() + written_, static_cast<uint32_t>(len));
      if (n < 0) {
        // A command that exits without reading its stdin is not an error.
        if (ssh_channel_is_closed(ch_) == 0 && ssh_channel_is_eof(ch_) == 0) {
          return Unavailable(what + ": writing stdin: " + ssh_get_error(s_));
        }
        remote_gone = true;
      } else {
        written_ += static_cast<size_t>(n);
        progress = progress || n > 0;
      }
    }
    if (written_ == in_.size() || remote_gone) {
      if (!remote_gone) ssh_channel_send_eof(ch_);
      eof_sent_ = true;
    }
    return Status::Ok();
  }

  ssh_session s_;
  ssh_channel ch_;
  std::string_view in_;
  size_t written_ = 0;
  bool eof_sent_ = false;
  bool done_[2] = {false, false};
  char buf_[16 * 1024];
};

}  // namespace

Result<GuestConnection::ExecResult> LibsshConnection::Exec(const std::vector<std::string>& argv,
                                                           std::string_view stdin_data,
                                                           std::stop_token stop) {
  if (argv.empty()) return InvalidArgument("exec on " + ip_ + ": empty command");
  RETURN_IF_ERROR(EndStandby());  // one channel at a time
  std::string command = ShellQuote(argv);
  std::string what = "exec of `" + command + "` on " + ip_;
  ssh_session s = session_.get();
  ChannelPtr ch(ssh_channel_new(s));
  if (!ch) return Unavailable(what + ": " + ssh_get_error(s));
  if (ssh_channel_open_session(ch.get()) != SSH_OK) {
    return Unavailable(what + ": opening a channel: " + ssh_get_error(s));
  }
  if (ssh_channel_request_exec(ch.get(), command.c_str()) != SSH_OK) {
    return Unavailable(what + ": " + ssh_get_error(s));
  }
  ExecResult result;
  {
    NonBlockingScope non_blocking(s);
    Pump pump(s, ch.get(), stdin_data);
    RETURN_IF_ERROR(pump.Run(stop, what, result));
  }
  result.exit_code = ssh_channel_get_exit_status(ch.get());
  return result;
}

LibsshConnection::LibsshConnection(UniqueFd socket, SessionPtr session, std::string ip)
    : socket_(std::move(socket)), session_(std::move(session)), ip_(std::move(ip)) {
  // Counts from here on; the handshake's bytes are not needed.
  ssh_set_counters(session_.get(), &socket_counter_, nullptr);
}

Status LibsshConnection::SendKeepalive() {
  // Non-blocking: libssh sends the request (or, while one is unanswered, only
  // takes in packets) and returns; the answer shows up in BytesReceived().
  NonBlockingScope non_blocking(session_.get());
  (void)ssh_send_keepalive(session_.get());
  if (!Connected()) return Unavailable("the SSH connection to " + ip_ + " closed");
  return Status::Ok();
}

bool LibsshConnection::WritePending() const {
  // libssh's own output buffer (not its poll flags, which keep POLLOUT set
  // after every write whether or not bytes are left).
  return (ssh_get_status(session_.get()) & SSH_WRITE_PENDING) != 0;
}

Status LibsshConnection::Flush() {
  // In non-blocking mode libssh sends a packet at once only if its socket was
  // seen writable since its last write; otherwise the packet waits in its
  // output buffer until one of its own polls sees POLLOUT. With timeout 0
  // this is exactly one such poll (it also takes in what arrived).
  NonBlockingScope non_blocking(session_.get());
  if (ssh_blocking_flush(session_.get(), 0) == SSH_ERROR || !Connected()) {
    return Unavailable("the SSH connection to " + ip_ +
                       " broke while sending: " + ssh_get_error(session_.get()));
  }
  return Status::Ok();
}

Status LibsshConnection::Prewarm() {
  if (standby_ != nullptr && !standby_->Closed()) return Status::Ok();
  standby_.reset();  // its shell died: both sides closed it, nothing races
  ASSIGN_OR_RETURN(standby_, LibsshChannel::OpenStandby(session_.get(), ip_));
  return Status::Ok();
}

Status LibsshConnection::EndStandby() {
  if (standby_ == nullptr) return Status::Ok();
  // A shell exits at once on EOF; the bound covers a guest busy under TCG.
  Status ended = standby_->EndStandby(std::chrono::seconds(10));
  standby_.reset();
  return ended;
}

Result<std::unique_ptr<GuestChannel>> LibsshConnection::OpenChannel(const ExecSpec& spec) {
  if (standby_ != nullptr) {
    std::optional<std::string> line = StandbyLine(spec);
    if (line && !standby_->Closed()) {
      std::unique_ptr<LibsshChannel> ch = std::move(standby_);
      RETURN_IF_ERROR(ch->Launch(*line));
      return std::unique_ptr<GuestChannel>(std::move(ch));
    }
    // A PTY (or a dead standby): the standby must be gone, closed by the
    // guest, before another channel opens (dropbear's race, docs/SESSIONS.md).
    RETURN_IF_ERROR(EndStandby());
  }
  return LibsshChannel::Open(session_.get(), ip_, spec);
}

}  // namespace warren
