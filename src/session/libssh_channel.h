#pragma once

#include <libssh/libssh.h>

#include <chrono>
#include <memory>
#include <string>

#include "session/guest_ssh.h"

namespace warren {

// GuestChannel over a libssh channel of a LibsshConnection's session. Every
// call switches the session to non-blocking mode for its duration, so none
// waits for the guest.
//
// Thread-safety: not thread-safe; used by the thread driving the connection.
// Must be destroyed before the connection.
class LibsshChannel final : public GuestChannel {
 public:
  struct Deleter {
    void operator()(ssh_channel c) const { ssh_channel_free(c); }
  };
  using ChannelPtr = std::unique_ptr<ssh_channel_struct, Deleter>;

  LibsshChannel(ssh_session session, ChannelPtr channel, std::string what)
      : session_(session), channel_(std::move(channel)), what_(std::move(what)) {}

  // Opens a session channel on `session` and starts spec (blocking for the
  // guest's replies, bounded by the session's timeout).
  static Result<std::unique_ptr<GuestChannel>> Open(ssh_session session, const std::string& ip,
                                                    const ExecSpec& spec);

  // Opens a channel running StandbyCommand(): a started shell waiting for its
  // command line (see GuestConnection::Prewarm). Blocking, like Open.
  static Result<std::unique_ptr<LibsshChannel>> OpenStandby(ssh_session session,
                                                            const std::string& ip);
  // Sends a StandbyLine to a standby channel: from here on it is that
  // command's channel. Unavailable when the connection broke.
  Status Launch(std::string_view line);
  // Ends a standby channel that will not be used: sends EOF (its shell exits)
  // and waits up to `within` for the guest to close the channel, so a new
  // channel can be opened without racing that close. Unavailable otherwise.
  Status EndStandby(std::chrono::milliseconds within);

  Result<int> Read(int stream, char* buf, size_t len) override;
  Result<int> Available(int stream) override;
  Result<size_t> Write(std::string_view bytes) override;
  Status SendEof() override;
  Status Resize(int cols, int rows) override;
  Status Signal(std::string_view name) override;
  bool Closed() override;
  std::optional<int> ExitCode() override;

 private:
  Status Broken(const std::string& doing) const;

  ssh_session const session_;
  ChannelPtr channel_;
  std::string what_;  // for messages
  bool eof_sent_ = false;
};

}  // namespace warren
