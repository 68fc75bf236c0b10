#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/clock.h"
#include "config/config.h"
#include "ops/op_registry.h"
#include "rpc/dispatcher.h"
#include "store/store.h"

namespace warren {
class ImageRegistry;
}  // namespace warren

namespace warren::rpc {

// Request struct of methods that take no parameters (extra fields are ignored,
// as JSON-RPC clients may send {}).
struct NoParams {
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
};

// One function per method group (methods_<group>.cc), each returning its rows.
// Adding a method = one handler + one row in its group.
std::vector<MethodRow> DaemonMethods(const Services& s);
std::vector<MethodRow> OpMethods(const Services& s);
std::vector<MethodRow> ImageMethods(const Services& s);

// Every row, for the Dispatcher.
std::vector<MethodRow> AllMethods(const Services& s);

}  // namespace warren::rpc
