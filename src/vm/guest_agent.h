#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "net/mac.h"
#include "sys/unique_fd.h"

namespace warren {

// Everything that makes a resumed guest a distinct machine. Plain value.
struct GuestIdentity {
  MacAddress mac;                 // eth0's new address
  std::string ip_cidr;            // "10.0.0.7/24": eth0's only IPv4 address afterwards
  std::string gateway;            // "10.0.0.1", or empty for no default route
  std::string hostname;           // [A-Za-z0-9.-], 1..63; also /etc/hostname and /etc/hosts
  std::string dns;                // one IPv4 nameserver for /etc/resolv.conf, or empty
  std::string host_key_private_openssh;  // "-----BEGIN OPENSSH PRIVATE KEY-----..." (ed25519)
  // The same key as dropbear's host key file (Ed25519Key::DropbearPrivateFile),
  // or empty. With it a dropbear guest installs the key with a shell builtin
  // instead of base64 and dropbearconvert: under TCG, ~250 ms less per clone.
  std::string host_key_dropbear;
  int64_t unix_time_ns = 0;       // the guest's clock is stepped to this (> 0)
  std::string random_seed_hex;    // mixed into the guest's RNG: 32..512 hex digits
};

// The host end of warren's guest agent: a line protocol over the virtio-serial
// port kGuestAgentPort (vm/qemu/argv.h), which QEMU relays to a unix socket
// (VmManager::AgentSocket). It reaches the guest whatever its IP, which is the
// point: a clone resumed from a snapshot still carries its parent's address.
//
// Wire format (docs/SNAPSHOTS.md, "The guest agent protocol"): one request per
// line, `VERB ID ARG...`, fields separated by one space, none empty ("-" for an
// absent optional value); one reply per request, `ok ID [TEXT]` or
// `err ID MESSAGE`. ID is a decimal the host picks; replies with another ID
// are stale (an earlier request that timed out) and skipped.
//   ping ID                        -> ok ID warren-agent VERSION
//   clock ID SEC.NSEC              -> ok ID
//   reidentify ID MAC CIDR GW HOSTNAME DNS SEC.NSEC SEED_HEX KEY_BASE64 [DROPBEAR_KEY] -> ok ID
// DROPBEAR_KEY is the key in dropbear's format, every byte as a `\ooo`
// octal escape (the agent's builtin printf writes it); agents older than it
// read the first nine fields and ignore the rest.
// The host key travels base64-encoded and is never logged on either side.
//
// Every call is bounded by its timeout; a timeout leaves the connection usable
// (a late reply is skipped by its ID). Errors name the fix: DeadlineExceeded
// when the guest does not answer (no agent in its image: docs/SNAPSHOTS.md),
// Unavailable when QEMU closed the socket, InvalidArgument for an identity
// that cannot be sent, FailedPrecondition carrying the agent's `err` message.
//
// Thread-safety: none; one caller at a time (the owner holds the VM's lock).
class GuestAgent {
 public:
  virtual ~GuestAgent() = default;
  virtual Status Ping(std::chrono::milliseconds timeout) = 0;
  virtual Status SetClock(int64_t unix_time_ns, std::chrono::milliseconds timeout) = 0;
  virtual Status Reidentify(const GuestIdentity&, std::chrono::milliseconds timeout) = 0;
};

// Connects to QEMU's agent socket of a running VM (one attempt: QEMU creates
// it before the guest runs). Unavailable when nothing listens there (the VM is
// not running, or was started before warren gave VMs an agent port: restart
// it). One client at a time: QEMU serves one connection, so a second client's
// requests time out until the first disconnects.
Result<std::unique_ptr<GuestAgent>> ConnectGuestAgent(const std::filesystem::path& socket);

// The seam the VM layer reaches a guest's agent through (VmManagerDeps,
// DaemonDeps). Real: ConnectGuestAgent.
using ConnectAgent =
    std::function<Result<std::unique_ptr<GuestAgent>>(const std::filesystem::path& socket)>;

// The agent protocol over an already connected stream (a socketpair in tests).
std::unique_ptr<GuestAgent> GuestAgentOverFd(UniqueFd fd);

// One parsed reply line (without its '\n').
struct AgentReply {
  uint64_t id = 0;
  bool ok = false;
  std::string text;  // after "ok ID " / "err ID ", possibly empty
};
// InvalidArgument for anything but `ok ID[ TEXT]` / `err ID[ TEXT]` with a
// decimal ID. Pure; fuzzed (fuzz/agent_reply_fuzz.cc).
Result<AgentReply> ParseAgentReply(std::string_view line);

// The request line (without '\n') for `identity`, or InvalidArgument naming
// the field. Pure. The message never contains the host key.
Result<std::string> FormatReidentify(uint64_t id, const GuestIdentity& identity);

// "SEC.NSEC" with nine fraction digits; InvalidArgument for times <= 0.
Result<std::string> FormatAgentTime(int64_t unix_time_ns);

}  // namespace warren
