#pragma once

#include <chrono>
#include <memory>
#include <stop_token>

#include "session/guest_socket.h"
#include "session/guest_ssh.h"

namespace warren {

// GuestDialer over libssh. The TCP socket comes from the injected
// SocketFactory (the daemon's binds it to the VM namespace) and is handed to
// libssh as an fd, so libssh never resolves or connects anything itself; it
// also reads no ~/.ssh/config and no known_hosts file.
//
// Host key check: only the algorithm of endpoint.host_public_key is offered in
// the key exchange (so a guest with several host keys presents the seeded one),
// then the server's key is compared with it (ssh_key_cmp); any difference is
// FailedPrecondition and the session is dropped before authenticating.
//
// Thread-safety: Dial and WaitForSsh may be called from many threads at once;
// the constructor runs ssh_init() once per process.
class LibsshDialer final : public GuestDialer {
 public:
  explicit LibsshDialer(SocketFactory sockets);

  Result<std::unique_ptr<GuestConnection>> Dial(const GuestEndpoint& endpoint,
                                                std::chrono::milliseconds timeout) override;
  Result<std::unique_ptr<GuestConnection>> WaitForSsh(
      const GuestEndpoint& endpoint, std::chrono::steady_clock::time_point deadline,
      std::stop_token stop) override;

 private:
  // Immutable after construction.
  const SocketFactory sockets_;
};

}  // namespace warren
