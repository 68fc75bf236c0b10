#include "session/libssh_channel.h"

#include <poll.h>

#include <algorithm>

namespace warren {
namespace {

// Sets the session's blocking mode for a scope and restores blocking after.
class BlockingScope {
 public:
  BlockingScope(ssh_session s, bool blocking) : s_(s) { ssh_set_blocking(s_, blocking ? 1 : 0); }
  ~BlockingScope() { ssh_set_blocking(s_, 1); }
  BlockingScope(const BlockingScope&) = delete;
  BlockingScope& operator=(const BlockingScope&) = delete;

 private:
  ssh_session s_;
};

}  // namespace

Result<std::unique_ptr<GuestChannel>> LibsshChannel::Open(ssh_session s, const std::string& ip,
                                                          const ExecSpec& spec) {
  std::string command;
  if (!spec.argv.empty()) {
    ASSIGN_OR_RETURN(command, ExecCommandLine(spec));
  } else if (!spec.tty) {
    return InvalidArgument("exec on " + ip + ": empty command");
  }
  std::string what = spec.argv.empty() ? "shell on " + ip : "`" + command + "` on " + ip;
  BlockingScope blocking(s, true);
  ChannelPtr ch(ssh_channel_new(s));
  if (!ch) return Unavailable(what + ": " + ssh_get_error(s));
  if (ssh_channel_open_session(ch.get()) != SSH_OK) {
    return Unavailable(what + ": opening a channel: " + ssh_get_error(s));
  }
  if (spec.tty && ssh_channel_request_pty_size(ch.get(), spec.term.c_str(), spec.cols,
                                               spec.rows) != SSH_OK) {
    return Unavailable(what + ": requesting a PTY: " + ssh_get_error(s));
  }
  int rc = command.empty() ? ssh_channel_request_shell(ch.get())
                           : ssh_channel_request_exec(ch.get(), command.c_str());
  if (rc != SSH_OK) return Unavailable(what + ": " + ssh_get_error(s));
  return std::unique_ptr<GuestChannel>(
      std::make_unique<LibsshChannel>(s, std::move(ch), std::move(what)));
}

Result<std::unique_ptr<LibsshChannel>> LibsshChannel::OpenStandby(ssh_session s,
                                                                  const std::string& ip) {
  std::string what = "a standby shell on " + ip;
  BlockingScope blocking(s, true);
  ChannelPtr ch(ssh_channel_new(s));
  if (!ch) return Unavailable(what + ": " + ssh_get_error(s));
  if (ssh_channel_open_session(ch.get()) != SSH_OK) {
    return Unavailable(what + ": opening a channel: " + ssh_get_error(s));
  }
  const std::string command(StandbyCommand());
  if (ssh_channel_request_exec(ch.get(), command.c_str()) != SSH_OK) {
    return Unavailable(what + ": " + ssh_get_error(s));
  }
  return std::make_unique<LibsshChannel>(s, std::move(ch), std::move(what));
}

Status LibsshChannel::Launch(std::string_view line) {
  what_ = "`" + std::string(line.substr(0, line.size() - 1)) + "` on a standby shell";
  BlockingScope blocking(session_, true);
  // At most kStandbyLineMaxBytes: within a fresh channel's window, so the
  // blocking write returns as soon as the packet is out.
  int n = ssh_channel_write(channel_.get(), line.data(), static_cast<uint32_t>(line.size()));
  if (n != static_cast<int>(line.size())) return Broken("sending the command line");
  return Status::Ok();
}

Status LibsshChannel::EndStandby(std::chrono::milliseconds within) {
  if (!Closed()) {
    BlockingScope blocking(session_, true);
    if (ssh_channel_send_eof(channel_.get()) == SSH_ERROR) return Broken("ending the standby");
  }
  auto until = std::chrono::steady_clock::now() + within;
  while (!Closed()) {  // Closed() takes in what arrived
    if (std::chrono::steady_clock::now() >= until) {
      return Unavailable(what_ + ": the guest did not close it in time");
    }
    if (ssh_is_connected(session_) == 0) return Broken("ending the standby");
    pollfd pfd{ssh_get_fd(session_), POLLIN, 0};
    ::poll(&pfd, 1, 20);
  }
  return Status::Ok();
}

Status LibsshChannel::Broken(const std::string& doing) const {
  return Unavailable(what_ + ": " + doing + ": " + ssh_get_error(session_));
}

Result<int> LibsshChannel::Read(int stream, char* buf, size_t len) {
  BlockingScope nb(session_, false);
  int n = ssh_channel_read_nonblocking(channel_.get(), buf, static_cast<uint32_t>(len), stream);
  if (n == SSH_EOF) return kEof;
  if (n < 0) return Broken("reading output");
  return n;
}

Result<int> LibsshChannel::Available(int stream) {
  BlockingScope nb(session_, false);
  int n = ssh_channel_poll(channel_.get(), stream);
  if (n == SSH_EOF) return kEof;
  if (n < 0) return Broken("polling output");
  return n;
}

Result<size_t> LibsshChannel::Write(std::string_view bytes) {
  if (bytes.empty() || eof_sent_) return size_t{0};
  if (Closed()) return bytes.size();  // the command is gone; its input is moot
  BlockingScope nb(session_, false);
  uint32_t window = ssh_channel_window_size(channel_.get());
  if (window == 0) return size_t{0};
  size_t len = std::min<size_t>({bytes.size(), size_t{window}, size_t{32 * 1024}});
  int n = ssh_channel_write(channel_.get(), bytes.data(), static_cast<uint32_t>(len));
  if (n < 0) {
    if (Closed() || ssh_channel_is_eof(channel_.get()) != 0) return bytes.size();
    return Broken("writing stdin");
  }
  return static_cast<size_t>(n);
}

Status LibsshChannel::SendEof() {
  // Also skipped once the command closed its output: it is ending, and an EOF
  // crossing the server's close crashes some servers (dropbear 2022.83 asserts
  // on it in common-channel.c).
  if (eof_sent_ || Closed() || ssh_channel_is_eof(channel_.get()) != 0) return Status::Ok();
  eof_sent_ = true;
  BlockingScope nb(session_, false);
  if (ssh_channel_send_eof(channel_.get()) == SSH_ERROR) return Broken("closing stdin");
  return Status::Ok();
}

Status LibsshChannel::Resize(int cols, int rows) {
  if (Closed()) return Status::Ok();
  BlockingScope nb(session_, false);
  if (ssh_channel_change_pty_size(channel_.get(), cols, rows) == SSH_ERROR) {
    return Broken("resizing the terminal");
  }
  return Status::Ok();
}

Status LibsshChannel::Signal(std::string_view name) {
  if (Closed()) return Status::Ok();
  std::string sig(name);
  BlockingScope nb(session_, false);
  if (ssh_channel_request_send_signal(channel_.get(), sig.c_str()) == SSH_ERROR) {
    return Broken("sending SIG" + sig);
  }
  return Status::Ok();
}

bool LibsshChannel::Closed() {
  if (ssh_channel_is_closed(channel_.get()) != 0) return true;
  // Once both streams hit EOF, reads no longer take in packets; this does
  // (non-blocking here: it returns at once), so the close is noticed.
  BlockingScope nb(session_, false);
  (void)ssh_channel_get_exit_status(channel_.get());
  return ssh_channel_is_closed(channel_.get()) != 0;
}

std::optional<int> LibsshChannel::ExitCode() {
  if (!Closed()) return std::nullopt;
  // Closed: libssh answers from what it received, without waiting.
  int code = ssh_channel_get_exit_status(channel_.get());
  if (code < 0) return std::nullopt;
  return code;
}

}  // namespace warren
