#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "config/config.h"
#include "ops/op_registry.h"
#include "rpc/dispatcher.h"
#include "session/guest_socket.h"
#include "store/store.h"

namespace warren {
class DnsRecords;
class EventBus;
class GuestDialer;
class ImageRegistry;
class SessionRegistry;
class TapStock;
class VmManager;
}  // namespace warren

namespace warren::rpc {

// Request struct of methods that take no parameters ({} or absent params;
// any member is refused).
struct NoParams {
  static constexpr std::array<ParamSpec, 0> kParams{};
  static Result<NoParams> FromJson(const nlohmann::json&) { return NoParams{}; }
};

// Facts about the running daemon that `daemon.status` reports.
struct DaemonInfo {
  std::string version;
  int pid = 0;
  int64_t started_ms = 0;
  std::string root;
  std::string socket;
  std::string accelerator;
};

// How the daemon reaches its VMs (`daemon.status`, `dns.*`).
struct NetworkInfo {
  std::string mode;         // isolated | nat | host
  std::string netns;        // the VM namespace's name
  std::string bridge;
  std::string subnet;
  std::string dns_domain;   // "" when DNS is disabled
  std::string dns_host_listen;  // where host-side DNS answers; "" = not listening
  std::string uplink;  // nat mode: "wn-… 169.254.x.1 <-> uplink0 169.254.x.2"; "" otherwise
};

// What the method handlers reach: the subsystems, by pointer, owned by the
// Daemon (the composition root) and alive for as long as the dispatcher is.
// Handlers never see the Daemon itself. Cheap to copy: handlers capture it by
// value, never by reference.
struct Services {
  DaemonInfo info;
  const Config* config = nullptr;
  Clock* clock = nullptr;
  Store* store = nullptr;
  OpRegistry* ops = nullptr;
  ImageRegistry* images = nullptr;
  VmManager* vms = nullptr;
  // Guest SSH: the dialer (sockets in the VM namespace, host keys pinned) and
  // the daemon's private key, whose public half every guest authorizes.
  GuestDialer* dialer = nullptr;
  std::string client_private_key;
  // TCP sockets to guest addresses, made inside the VM namespace (the same
  // factory the dialer uses): `vm.proxy` relays through one.
  SocketFactory guest_sockets;
  // Detached sessions and the per-VM SSH connections exec reuses.
  SessionRegistry* sessions = nullptr;
  const DnsRecords* dns_records = nullptr;
  TapStock* tap_pool = nullptr;
  NetworkInfo network;
  // Daemon-wide change events (events.subscribe).
  EventBus* events = nullptr;
  // The daemon's own checks for `warren doctor` (rows {name, level, found, fix}).
  std::function<nlohmann::json()> health;
  // The web UI (methods_web.cc): `info` answers {url, listen, enabled, error?};
  // `rotate` issues a new login token, ends every web login and answers the new
  // {url, listen}. Unset in tests without a web listener.
  struct Web {
    std::function<nlohmann::json()> info;
    std::function<Result<nlohmann::json>()> rotate;
  } web;
};

// One function per method group (methods_<group>.cc), each returning its rows.
// Adding a method = one handler + one row in its group.
std::vector<MethodRow> DaemonMethods(const Services& s);
std::vector<MethodRow> OpMethods(const Services& s);
std::vector<MethodRow> ImageMethods(const Services& s);
std::vector<MethodRow> VmMethods(const Services& s);
std::vector<MethodRow> SnapshotMethods(const Services& s);
std::vector<MethodRow> DnsMethods(const Services& s);

std::vector<MethodRow> SessionMethods(const Services& s);
// events.subscribe's `snapshot`: {result field, that list method's handler},
// e.g. {"vms", vm.list's handler}, taken from the other groups' rows.
using SnapshotSources = std::vector<std::pair<std::string, Handler>>;
std::vector<MethodRow> EventMethods(const Services& s, SnapshotSources lists);
std::vector<MethodRow> WebMethods(const Services& s);
std::vector<MethodRow> SshMethods(const Services& s);

// Every row, for the Dispatcher.
std::vector<MethodRow> AllMethods(const Services& s);

}  // namespace warren::rpc
