#include "caps/share.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <set>

namespace warren {
namespace {

namespace fs = std::filesystem;

Status NotADirectory(const std::string& host) {
  return FailedPrecondition("share: host folder " + host +
                            " does not exist or is not a directory; create it or fix the path");
}

// GUEST_DIR: absolute, not /, no whitespace or ':' (warren.env and mount
// lines carry it verbatim), no "..".
bool PlainGuestDir(const std::string& d) {
  if (d.size() < 2 || d.front() != '/' || d.size() > 255) return false;
  if (d.find_first_of(" \t\r\n:\\") != std::string::npos) return false;
  for (const auto& part : fs::path(d)) {
    if (part == "..") return false;
  }
  return true;
}

// The primary group of QEMU's user (VmSpec::run_as): QEMU may reconnect to a
// socket after dropping root, so virtiofsd opens it to that group. "" when
// QEMU stays root or the user is unknown (QEMU's -runas then fails anyway).
std::string QemuGroup(const std::string& run_as) {
  if (run_as.empty()) return "";
  char buf[4096];
  passwd pw, *pwp = nullptr;
  if (getpwnam_r(run_as.c_str(), &pw, buf, sizeof(buf), &pwp) != 0 || pwp == nullptr) return "";
  char gbuf[4096];
  group gr, *grp = nullptr;
  if (getgrgid_r(pw.pw_gid, &gr, gbuf, sizeof(gbuf), &grp) != 0 || grp == nullptr) return "";
  return gr.gr_name;
}

}  // namespace

VirtiofsdSpec ShareCapability::ServerSpec(const fs::path& vm_dir, const nlohmann::json& s,
                                          const std::string& socket_group) {
  const std::string tag = s.at("tag").get<std::string>();
  VirtiofsdSpec spec;
  spec.tag = tag;
  spec.source = s.at("host").get<std::string>();
  spec.ro = s.at("ro").get<bool>();
  spec.socket = vm_dir / ("vfs-" + tag + ".sock");
  spec.pid_file = vm_dir / ("virtiofsd-" + tag + ".pid");
  spec.log = vm_dir / ("virtiofsd-" + tag + ".log");
  spec.socket_group = socket_group;
  return spec;
}

Result<nlohmann::json> ShareCapability::Validate(const nlohmann::json& request,
                                                 const CreateRequest&) {
  if (!request.is_array() || request.empty()) {
    return InvalidArgument("share: expected a non-empty array of \"HOST_DIR:GUEST_DIR[:ro]\"");
  }
  if (request.size() > kMaxShares) {
    return InvalidArgument("share: at most " + std::to_string(kMaxShares) + " shares");
  }
  nlohmann::json shares = nlohmann::json::array();
  std::set<std::string> guests;
  for (const auto& item : request) {
    if (!item.is_string()) return InvalidArgument("share: every entry must be a string");
    std::string spec = item.get<std::string>();
    bool ro = false;
    if (spec.size() > 3 && spec.compare(spec.size() - 3, 3, ":ro") == 0) {
      ro = true;
      spec.resize(spec.size() - 3);
    } else if (spec.size() > 3 && spec.compare(spec.size() - 3, 3, ":rw") == 0) {
      spec.resize(spec.size() - 3);
    }
    size_t colon = spec.rfind(':');
    if (colon == std::string::npos) {
      return InvalidArgument("share: \"" + item.get<std::string>() +
                             "\" is not HOST_DIR:GUEST_DIR[:ro]");
    }
    std::string host = spec.substr(0, colon), guest = spec.substr(colon + 1);
    if (host.empty() || host.front() != '/') {
      return InvalidArgument("share: host folder \"" + host + "\" must be an absolute path");
    }
    if (!PlainGuestDir(guest)) {
      return InvalidArgument("share: guest folder \"" + guest +
                             "\" must be an absolute path other than /, without spaces, ':' "
                             "or '..'");
    }
    if (!guests.insert(guest).second) {
      return InvalidArgument("share: guest folder " + guest + " is given twice");
    }
    std::error_code ec;
    fs::path canonical = fs::canonical(host, ec);
    if (ec || !fs::is_directory(canonical, ec)) return NotADirectory(host);
    shares.push_back({{"tag", "warren" + std::to_string(shares.size())},
                      {"host", canonical.string()},
                      {"guest", guest},
                      {"ro", ro}});
  }
  return shares;
}

Status ShareCapability::ContributeSeed(const CapVm&, const nlohmann::json& settings,
                                       SeedSpec& seed) {
  for (const auto& s : settings) {
    seed.mounts.push_back({s.at("tag").get<std::string>(), s.at("guest").get<std::string>(),
                           s.at("ro").get<bool>()});
  }
  return Status::Ok();
}

Status ShareCapability::ContributeQemu(const CapVm& vm, const nlohmann::json& settings,
                                       VmSpec& spec) {
  const std::string group = QemuGroup(spec.run_as);
  for (const auto& s : settings) {
    VirtiofsdSpec server = ServerSpec(vm.dir, s, group);
    std::error_code ec;
    Status st = fs::is_directory(server.source, ec) ? servers_->Start(server)
                                                    : NotADirectory(server.source.string());
    if (!st.ok()) {
      StopAll(vm, settings);
      return st;
    }
    spec.shares.push_back({server.tag, server.socket});
  }
  return Status::Ok();
}

void ShareCapability::StopAll(const CapVm& vm, const nlohmann::json& settings) {
  for (const auto& s : settings) servers_->Stop(ServerSpec(vm.dir, s, ""));
}

// QEMU's exit usually ends each virtiofsd already (the connection closes);
// this ends one whose QEMU never connected, reaps them and removes sockets.
void ShareCapability::OnStop(const CapVm& vm, const nlohmann::json& settings) {
  StopAll(vm, settings);
}

void ShareCapability::OnDelete(const CapVm& vm, const nlohmann::json& settings) {
  StopAll(vm, settings);
}

}  // namespace warren
