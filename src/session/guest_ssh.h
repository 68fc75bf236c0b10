#pragma once

#include <chrono>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace warren {

// Where and as whom to reach a guest's SSH server. The daemon writes
// host_public_key into the guest's NoCloud seed before boot, so it is the only
// host key ever accepted: there is no trust-on-first-use and no way to turn the
// check off.
struct GuestEndpoint {
  std::string ip;
  int port = 22;
  std::string user = "root";
  // "ssh-ed25519 AAAA... comment" (OpenSSH public key line); the comment is
  // optional.
  std::string host_public_key;
  // OpenSSH private key text (the daemon's key), unencrypted.
  std::string client_private_key;
};

// One authenticated SSH session to a guest.
//
// Thread-safety: NOT thread-safe. A connection is used by one thread at a time
// (libssh sessions are not shareable); callers that share one must serialise
// access themselves. It may be handed from one thread to another.
class GuestConnection {
 public:
  struct ExecResult {
    int exit_code = -1;  // -1 when the guest reported no status (e.g. killed by a signal)
    std::string out;
    std::string err;
  };

  virtual ~GuestConnection() = default;

  // Runs argv on the guest (joined by ShellQuote into one command line for the
  // remote shell), writes stdin_data to its stdin then closes it, and collects
  // stdout and stderr separately until the command exits.
  // Errors: InvalidArgument (empty argv), Cancelled (`stop` requested; the
  // channel is closed, the connection stays usable), Unavailable (the
  // connection broke; dial again).
  virtual Result<ExecResult> Exec(const std::vector<std::string>& argv, std::string_view stdin_data,
                                  std::stop_token stop) = 0;
};

// The seam through which the daemon reaches guests (the seed's guestDial /
// guestWaitForSSH). Tests of other subsystems inject a fake.
//
// Thread-safety: implementations are safe to call from several threads at once;
// each call makes its own connection.
class GuestDialer {
 public:
  virtual ~GuestDialer() = default;

  // Opens one authenticated SSH session, taking at most about `timeout`.
  // Errors: Unavailable (connection refused, unreachable, timed out, or the
  // server hung up during the handshake: the guest is not up yet, retry);
  // FailedPrecondition (host key mismatch, naming both SHA256 fingerprints, or
  // public key authentication refused: never retry); InvalidArgument (a key in
  // the endpoint cannot be parsed).
  virtual Result<std::unique_ptr<GuestConnection>> Dial(const GuestEndpoint& endpoint,
                                                        std::chrono::milliseconds timeout) = 0;

  // Polls the TCP port every ~50 ms with a cheap connect, then runs the SSH
  // handshake on that socket; retries Unavailable until `deadline` or `stop`.
  // Returns the authenticated connection so the first Exec reuses it.
  // Errors: DeadlineExceeded (with the last Unavailable reason), Cancelled, and
  // Dial's non-retryable errors as they are.
  virtual Result<std::unique_ptr<GuestConnection>> WaitForSsh(
      const GuestEndpoint& endpoint, std::chrono::steady_clock::time_point deadline,
      std::stop_token stop) = 0;
};

// Joins argv into one POSIX shell command line that the remote shell splits
// back into exactly argv: words made only of safe characters stay bare, others
// are single-quoted with embedded ' written as '\''. Empty words become ''.
std::string ShellQuote(const std::vector<std::string>& argv);

}  // namespace warren
