#pragma once

#include <chrono>
#include <memory>
#include <optional>
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

// What to run in a streaming channel (GuestConnection::OpenChannel).
struct ExecSpec {
  // Empty with tty = the user's login shell. Otherwise run as `exec ARGV` by
  // the remote shell, so a missing command exits 127 as in a shell.
  std::vector<std::string> argv;
  // Exported before the command; names must be [A-Za-z_][A-Za-z0-9_]*.
  std::vector<std::pair<std::string, std::string>> env;
  std::string workdir;  // "" = the user's home
  bool tty = false;     // request a PTY (stdout and stderr then arrive merged)
  std::string term = "xterm-256color";
  int cols = 80;
  int rows = 24;
};

// One command running in an SSH channel. All calls are non-blocking and none
// waits for the guest, so one thread can drive many channels of a connection.
//
// Thread-safety: NOT thread-safe; used only by the thread that drives its
// GuestConnection (a GuestLink's pump thread), and destroyed before it.
class GuestChannel {
 public:
  // Read() returns this when the stream has ended (no more data will come).
  static constexpr int kEof = -1;

  virtual ~GuestChannel() = default;

  // Copies up to `len` bytes of stdout (stream 0) or stderr (stream 1) into
  // buf: the count (0 = nothing yet), or kEof. Unavailable if the connection broke.
  virtual Result<int> Read(int stream, char* buf, size_t len) = 0;
  // Bytes available to Read() right now without blocking (also processes
  // whatever arrived on the socket); kEof at the end of the stream.
  virtual Result<int> Available(int stream) = 0;
  // Queues stdin; returns how many bytes were taken (0 when the SSH window is
  // full: try again after the socket was readable).
  virtual Result<size_t> Write(std::string_view bytes) = 0;
  virtual Status SendEof() = 0;
  virtual Status Resize(int cols, int rows) = 0;
  // `name` without "SIG" (e.g. "INT", "TERM", "KILL").
  virtual Status Signal(std::string_view name) = 0;
  // True once the guest closed the channel (the command ended).
  virtual bool Closed() = 0;
  // The exit status once Closed(); nullopt when the guest reported none (the
  // command was killed by a signal).
  virtual std::optional<int> ExitCode() = 0;
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

  // Opens a channel and starts spec in it (one round trip to the guest, which
  // blocks). Errors: InvalidArgument (a bad env name, empty argv without tty),
  // Unavailable (the connection broke or the guest refused the channel).
  // Unimplemented connections (fakes) say so with FailedPrecondition.
  virtual Result<std::unique_ptr<GuestChannel>> OpenChannel(const ExecSpec& spec);
  // The socket to poll(2) for readability between channel calls; -1 if none.
  virtual int PollFd() const { return -1; }
  // Whether the session is still connected (false after the guest went away).
  virtual bool Connected() const { return true; }
  // True while the connection holds outgoing bytes the socket did not take
  // yet (channel data, EOF, window adjusts, keepalives). They go out only in
  // Flush(): the caller polls PollFd() for POLLOUT meanwhile and calls Flush()
  // when it is writable, or the peer may wait for them forever.
  virtual bool WritePending() const { return false; }
  // Writes as much pending output as the socket takes now, without blocking
  // (and takes in whatever arrived). Unavailable when the connection broke.
  virtual Status Flush() { return Status::Ok(); }
  // Sends a keepalive@openssh.com request (want_reply) unless one is still
  // unanswered, and takes in whatever arrived, without blocking. Unavailable
  // when the connection broke.
  virtual Status SendKeepalive() { return Status::Ok(); }
  // Bytes received on the socket so far; nullopt when the connection cannot
  // tell (fakes), which turns keepalive off for it.
  virtual std::optional<uint64_t> BytesReceived() const { return std::nullopt; }
  // Called only while no channel is open: opens a standby channel whose shell
  // is started and waits for its command line on stdin (StandbyCommand), so
  // the next OpenChannel of a spec with a StandbyLine costs the guest only the
  // command's own exec, not the shell's start (~50 ms under TCG) and the
  // server's fork. The standby IS the connection's one channel: an
  // OpenChannel it cannot serve (a PTY) first ends it and waits for the
  // guest's close, so two channels never coexist (docs/SESSIONS.md). Ok and
  // nothing done when unsupported (fakes) or when a live standby exists;
  // Unavailable when the guest refused it (the next command then opens its own).
  virtual Status Prewarm() { return Status::Ok(); }
  // Whether a standby channel is open and its shell alive, as far as the
  // packets taken in so far tell (it may die any time; OpenChannel checks).
  virtual bool HasStandby() { return false; }
};

// The command line OpenChannel sends for spec (spec.argv not empty):
//   [export K=V; ...] [cd DIR &&] exec ARGV
// every word ShellQuote'd. InvalidArgument for a bad env name.
Result<std::string> ExecCommandLine(const ExecSpec& spec);

// What a standby channel runs (the user's login shell runs it with -c): read
// one line, then eval it. `read` of a pipe or socket reads byte by byte in
// dash and bash, so whatever follows the line stays on stdin for the command.
// EOF before a full line ends the shell without running anything.
std::string_view StandbyCommand();
// The line (with its newline) that turns a standby shell into spec's command:
// ExecCommandLine(spec), whose newlines (only ever inside single-quoted words)
// become '"$_warren_nl"' so it fits on one line. nullopt when spec cannot go
// that way: a PTY or shell request, an invalid spec (OpenChannel reports it),
// a NUL byte (a shell's read drops it), or a line longer than
// kStandbyLineMaxBytes (read's byte-at-a-time cost would exceed a shell start).
inline constexpr size_t kStandbyLineMaxBytes = 4096;
std::optional<std::string> StandbyLine(const ExecSpec& spec);

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
