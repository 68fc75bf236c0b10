#include "vm/caps/publish.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include "vm/vm_manager.h"

namespace warren {
namespace {

// Whether anything on the host has spec's address and port bound: a bind that
// is undone at once (SO_REUSEADDR so a connection in TIME_WAIT is no holder).
Status ProbeHostPort(const PublishSpec& spec) {
  socklen_t len = 0;
  ASSIGN_OR_RETURN(sockaddr_storage addr, ListenAddress(spec, &len));
  const int type = spec.proto == PublishSpec::Proto::kTcp ? SOCK_STREAM : SOCK_DGRAM;
  UniqueFd fd(::socket(addr.ss_family, type | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError("socket to probe " + spec.ToString(), errno);
  int one = 1;
  if (type == SOCK_STREAM) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0) return Status::Ok();
  const std::string where =
      spec.host_ip + ":" + std::to_string(spec.host_port) + "/" + spec.ProtoName();
  if (errno == EADDRINUSE) {
    return FailedPrecondition("host port " + where +
                              " is already in use by another program on the host; pick another "
                              "host port");
  }
  if (errno == EADDRNOTAVAIL) {
    return FailedPrecondition("host address " + spec.host_ip +
                              " is not an address of this host; use 127.0.0.1 or 0.0.0.0");
  }
  if (errno == EACCES) {
    return FailedPrecondition("host port " + where + " needs privilege; pick one from 1024 up");
  }
  return ErrnoError("probe host port " + where, errno);
}

nlohmann::json ToSettings(const std::vector<PublishSpec>& specs) {
  nlohmann::json out = nlohmann::json::array();
  for (const PublishSpec& spec : specs) out.push_back(spec.ToString());
  return out;
}

}  // namespace

Result<std::vector<PublishSpec>> PublishCapability::ParseList(const nlohmann::json& list) {
  if (!list.is_array()) {
    return InvalidArgument("publish: expected a list of \"[HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]\"");
  }
  std::vector<PublishSpec> specs;
  for (const nlohmann::json& item : list) {
    if (!item.is_string()) {
      return InvalidArgument("publish: " + item.dump() +
                             " is not a string such as \"8080:80\"");
    }
    ASSIGN_OR_RETURN(PublishSpec spec, PublishSpec::Parse(item.get<std::string>()));
    specs.push_back(std::move(spec));
  }
  return specs;
}

Status PublishCapability::CheckFree(const PublishSpec& spec, const std::string& self) {
  ASSIGN_OR_RETURN(auto stored, stored_());
  for (const auto& [vm, settings] : stored) {
    if (vm == self) continue;
    Result<std::vector<PublishSpec>> theirs = ParseList(settings);
    if (!theirs.ok()) continue;  // a bad stored row holds nothing
    for (const PublishSpec& other : *theirs) {
      if (spec.ConflictsWith(other)) {
        return FailedPrecondition("host port " + spec.ToString() + " is already published by VM \"" +
                                  vm + "\" (" + other.ToString() +
                                  "); pick another host port or `warren vm unpublish " + vm +
                                  " " + other.ToString() + "`");
      }
    }
  }
  return ProbeHostPort(spec);
}

Result<nlohmann::json> PublishCapability::Validate(const nlohmann::json& request,
                                                   const CreateRequest& create) {
  ASSIGN_OR_RETURN(std::vector<PublishSpec> specs, ParseList(request));
  for (size_t i = 0; i < specs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (specs[i].ConflictsWith(specs[j])) {
        return InvalidArgument("publish: " + specs[i].ToString() + " and " +
                               specs[j].ToString() + " use the same host port; give each its own");
      }
    }
    RETURN_IF_ERROR(CheckFree(specs[i], create.name));
  }
  return ToSettings(specs);
}

Status PublishCapability::Listen(const CapVm& vm, const PublishSpec& spec) {
  if (vm.record.ip.empty()) {
    return FailedPrecondition("VM \"" + vm.record.name + "\" has no address to publish to");
  }
  Result<PortRelay::Id> id = relay_.Add(spec, vm.record.ip);
  if (!id.ok()) {
    return Status(id.error().code(),
                  "publish " + spec.ToString() + " for VM \"" + vm.record.name + "\": " +
                      id.error().message());
  }
  spdlog::info("vm {}: published {} -> {}:{}", vm.record.name, spec.ToString(), vm.record.ip,
               spec.guest_port);
  MutexLock lock(&mu_);
  live_[vm.record.id].emplace_back(spec, *id);
  return Status::Ok();
}

Status PublishCapability::OnReady(const CapVm& vm, const nlohmann::json& settings) {
  ASSIGN_OR_RETURN(std::vector<PublishSpec> specs, ParseList(settings));
  StopAll(vm.record.id);  // a second OnReady (adopt after ready) starts afresh
  for (const PublishSpec& spec : specs) {
    if (Status s = Listen(vm, spec); !s.ok()) {
      StopAll(vm.record.id);
      return s;
    }
  }
  return Status::Ok();
}

void PublishCapability::StopAll(const std::string& vm_id) {
  std::vector<std::pair<PublishSpec, PortRelay::Id>> live;
  {
    MutexLock lock(&mu_);
    auto it = live_.find(vm_id);
    if (it == live_.end()) return;
    live = std::move(it->second);
    live_.erase(it);
  }
  for (const auto& [spec, id] : live) relay_.Remove(id);
}

void PublishCapability::OnStop(const CapVm& vm, const nlohmann::json&) { StopAll(vm.record.id); }

void PublishCapability::OnDelete(const CapVm& vm, const nlohmann::json&) {
  StopAll(vm.record.id);
}

Result<nlohmann::json> PublishCapability::Change(const CapVm& vm, const nlohmann::json& settings,
                                                 const nlohmann::json& change, bool running) {
  const bool publish = change.contains("publish");
  const char* key = publish ? "publish" : "unpublish";
  if (!change.is_object() || change.size() != 1 || !change.contains(key) ||
      !change[key].is_string()) {
    return InvalidArgument(R"(publish change: expected {"publish": SPEC} or {"unpublish": SPEC})");
  }
  ASSIGN_OR_RETURN(PublishSpec spec, PublishSpec::Parse(change[key].get<std::string>()));
  ASSIGN_OR_RETURN(std::vector<PublishSpec> specs,
                   ParseList(settings.is_null() ? nlohmann::json::array() : settings));
  auto same = std::find(specs.begin(), specs.end(), spec);
  if (publish) {
    if (same != specs.end()) {
      return AlreadyExists("VM \"" + vm.record.name + "\" already publishes " + spec.ToString());
    }
    for (const PublishSpec& mine : specs) {
      if (spec.ConflictsWith(mine)) {
        return FailedPrecondition("VM \"" + vm.record.name + "\" already uses that host port (" +
                                  mine.ToString() + "); unpublish it first");
      }
    }
    RETURN_IF_ERROR(CheckFree(spec, vm.record.name));
    if (running) RETURN_IF_ERROR(Listen(vm, spec));
    specs.push_back(spec);
    return ToSettings(specs);
  }
  if (same == specs.end()) {
    return NotFound("VM \"" + vm.record.name + "\" does not publish " + spec.ToString() +
                    " (it publishes " + ToSettings(specs).dump() + "; see `warren vm ports " +
                    vm.record.name + "`)");
  }
  specs.erase(same);
  std::optional<PortRelay::Id> drop;
  {
    MutexLock lock(&mu_);
    auto& live = live_[vm.record.id];
    for (auto it = live.begin(); it != live.end(); ++it) {
      if (it->first == spec) {
        drop = it->second;
        live.erase(it);
        break;
      }
    }
  }
  if (drop) relay_.Remove(*drop);
  return ToSettings(specs);
}

nlohmann::json PublishCapability::Describe(const nlohmann::json& settings) const {
  nlohmann::json out = nlohmann::json::array();
  Result<std::vector<PublishSpec>> specs = ParseList(settings);
  if (!specs.ok()) return settings;
  for (const PublishSpec& spec : *specs) {
    out.push_back({{"spec", spec.ToString()},
                   {"host_ip", spec.host_ip},
                   {"host_port", spec.host_port},
                   {"guest_port", spec.guest_port},
                   {"proto", spec.ProtoName()}});
  }
  return out;
}

nlohmann::json PublishCapability::DescribeVm(const CapVm& vm,
                                             const nlohmann::json& settings) const {
  nlohmann::json out = Describe(settings);
  if (!out.is_array()) return out;
  MutexLock lock(&mu_);
  auto it = live_.find(vm.record.id);
  for (nlohmann::json& entry : out) {
    bool listening = false;
    if (it != live_.end()) {
      for (const auto& [spec, id] : it->second) listening |= spec.ToString() == entry["spec"];
    }
    entry["listening"] = listening;
  }
  return out;
}

std::vector<PublishSpec> PublishCapability::ListeningFor(const std::string& vm_id) {
  MutexLock lock(&mu_);
  std::vector<PublishSpec> out;
  if (auto it = live_.find(vm_id); it != live_.end()) {
    for (const auto& [spec, id] : it->second) out.push_back(spec);
  }
  return out;
}

}  // namespace warren
