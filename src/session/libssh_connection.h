#pragma once

#include <libssh/libssh.h>

#include <memory>
#include <stop_token>
#include <string>

#include "session/guest_ssh.h"
#include "session/libssh_channel.h"
#include "sys/unique_fd.h"

namespace warren {

struct SessionDeleter {
  void operator()(ssh_session s) const {
    ssh_disconnect(s);
    ssh_free(s);
  }
};
using SessionPtr = std::unique_ptr<ssh_session_struct, SessionDeleter>;

// GuestConnection over one authenticated libssh session; made by LibsshDialer.
// Each Exec opens its own channel on the session. libssh never closes a socket
// given with SSH_OPTIONS_FD, so the connection owns it and closes it after the
// session is freed.
//
// Thread-safety: not thread-safe (see GuestConnection); one thread at a time.
class LibsshConnection final : public GuestConnection {
 public:
  LibsshConnection(UniqueFd socket, SessionPtr session, std::string ip);

  Result<ExecResult> Exec(const std::vector<std::string>& argv, std::string_view stdin_data,
                          std::stop_token stop) override;
  Result<std::unique_ptr<GuestChannel>> OpenChannel(const ExecSpec& spec) override;
  int PollFd() const override { return socket_.get(); }
  bool Connected() const override { return ssh_is_connected(session_.get()) != 0; }
  bool WritePending() const override;
  Status Flush() override;
  Status SendKeepalive() override;
  std::optional<uint64_t> BytesReceived() const override { return socket_counter_.in_bytes; }
  Status Prewarm() override;
  bool HasStandby() override { return standby_ != nullptr && !standby_->Closed(); }

 private:
  // Ends standby_ (if any) and waits for the guest's close.
  Status EndStandby();

  // Declared before session_ so it is closed after the session is freed.
  UniqueFd socket_;
  // libssh adds the socket's traffic here (ssh_set_counters); a keepalive
  // answer, or any other packet, moves in_bytes. Declared before session_,
  // which writes to it until freed.
  ssh_counter_struct socket_counter_{};
  SessionPtr session_;
  const std::string ip_;  // for messages
  // The prewarmed channel (Prewarm); declared after session_ so it is freed
  // before the session.
  std::unique_ptr<LibsshChannel> standby_;
};

}  // namespace warren
