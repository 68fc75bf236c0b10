#include "caps/share.h"

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

}  // namespace

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

Status ShareCapability::ContributeQemu(const CapVm&, const nlohmann::json& settings,
                                       VmSpec& spec) {
  for (const auto& s : settings) {
    std::string host = s.at("host").get<std::string>();
    std::error_code ec;
    if (!fs::is_directory(host, ec)) return NotADirectory(host);
    spec.shares.push_back({s.at("tag").get<std::string>(), host, s.at("ro").get<bool>()});
  }
  return Status::Ok();
}

}  // namespace warren
