#include "image/seed.h"

#include <arpa/inet.h>
#include <algorithm>
#include <stdlib.h>

#include <cerrno>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/check.h"
#include "image/digest.h"
#include "sys/files.h"

namespace warren {
namespace {

namespace fs = std::filesystem;

bool IsIpv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool IsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsDomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (!IsLabel(s.substr(start, dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsSingleLine(std::string_view s) {
  return s.find_first_of(std::string_view("\n\r\0", 3)) == std::string_view::npos;
}

Status Bad(std::string_view field, std::string_view value, std::string_view want) {
  return InvalidArgument("seed: " + std::string(field) + " \"" + std::string(value) +
                         "\" is invalid: " + std::string(want));
}

// Removes a scratch directory on every return path.
class ScratchDir {
 public:
  static Result<ScratchDir> Create(const fs::path& parent, std::string_view stem) {
    std::string tmpl = (parent / (std::string(stem) + "-XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) return ErrnoError("mkdtemp " + tmpl, errno);
    return ScratchDir(tmpl);
  }
  ScratchDir(ScratchDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  explicit ScratchDir(fs::path p) : path_(std::move(p)) {}
  fs::path path_;
};

Status WriteFile(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) return Internal("cannot write " + path.string());
  return Status::Ok();
}

// ---- capability fields (SeedSpec's second half; vm/capability.h) ----

bool IsEnvKey(std::string_view k) {
  if (k.empty() || k.size() > 64) return false;
  for (char c : k) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool IsMountTag(std::string_view t) {
  if (t.empty() || t.size() > 31) return false;
  for (char c : t) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_';
    if (!ok) return false;
  }
  return true;
}

// The keys warren.env already carries (a capability's env cannot replace them).
bool IsWarrenEnvKey(std::string_view k) {
  for (std::string_view own : {"HOSTNAME", "ADDRESS", "GATEWAY", "DNS", "SEARCH", "AUTHORIZED_KEY",
                               "AUTHORIZED_KEY_EXTRA", "MOUNT_VIRTIOFS", "HOST_KEY_ED25519",
                               "HOST_KEY_ED25519_PUB"}) {
    if (k == own) return true;
  }
  return false;
}

Status ValidateCapabilityFields(const SeedSpec& s) {
  for (const std::string& key : s.extra_authorized_keys) {
    if (!IsSingleLine(key) || key.empty() || key.size() > 16384) {
      return Bad("extra_authorized_keys", key.substr(0, 40), "must be one OpenSSH public key line");
    }
  }
  if (!s.cloud_config.is_object()) {
    return Bad("cloud_config", s.cloud_config.type_name(), "must be a mapping");
  }
  std::map<std::string, int> dirs;
  for (const SeedSpec::Mount& m : s.mounts) {
    if (!IsMountTag(m.tag)) return Bad("mounts.tag", m.tag, "must be 1-31 of A-Za-z0-9_");
    bool plain = m.guest_dir.size() > 1 && m.guest_dir.front() == '/' &&
                 m.guest_dir.find_first_of(" \t\n\r:") == std::string::npos &&
                 m.guest_dir.find("/../") == std::string::npos;
    if (!plain) {
      return Bad("mounts.guest_dir", m.guest_dir,
                 "must be an absolute directory other than /, without spaces or ':'");
    }
    if (++dirs[m.guest_dir] > 1) return Bad("mounts.guest_dir", m.guest_dir, "is used twice");
  }
  for (const auto& [key, value] : s.env) {
    if (!IsEnvKey(key) || IsWarrenEnvKey(key)) {
      return Bad("env", key, "must be [A-Z0-9_]+ and not one of warren's own keys");
    }
    if (!IsSingleLine(value)) return Bad("env", key, "value must be one line");
  }
  return Status::Ok();
}

// warren.env lines for the capability fields. The guest's scripts read them
// (early-seed, apply-seed: keys; run-user-data: mounts).
std::string CapabilityEnv(const SeedSpec& spec) {
  std::string env;
  for (const std::string& key : spec.extra_authorized_keys) env += "AUTHORIZED_KEY_EXTRA=" + key + "\n";
  for (const SeedSpec::Mount& m : spec.mounts) {
    env += "MOUNT_VIRTIOFS=" + m.tag + ":" + (m.ro ? "ro" : "rw") + ":" + m.guest_dir + "\n";
  }
  for (const auto& [key, value] : spec.env) env += key + "=" + value + "\n";
  return env;
}

// cloud-init's side of the mounts: bootcmd (every boot, before SSH), not
// `mounts`: cc_mounts takes a first field that is neither a path nor
// host:path for a device name under /dev, which a virtiofs tag is not.
// virtiofs is a module in Debian's cloud kernel: loaded first.
void AddCloudMounts(const SeedSpec& spec, nlohmann::json& c) {
  if (!spec.mounts.empty()) c["bootcmd"].push_back({"modprobe", "virtiofs"});
  for (const SeedSpec::Mount& m : spec.mounts) {
    c["bootcmd"].push_back({"mkdir", "-p", m.guest_dir});
    c["bootcmd"].push_back({"mount", "-t", "virtiofs", "-o", m.ro ? "ro" : "rw", m.tag,
                            m.guest_dir});
  }
}

// cloud-init renders network-config's nameservers for ifupdown as
// `dns-nameservers`, which only resolvconf reads: in a Debian image with
// ifupdown and no resolvconf (cloud-init 22.4's ENI renderer; a minbase root)
// /etc/resolv.conf keeps whatever the image was built with, and names do not
// resolve. So, every boot (bootcmd, before SSH), the guest points it at
// warren's DNS itself, unless something else owns the file: a symlink
// (systemd-resolved's stub, resolvconf's) or an installed resolvconf, which
// netplan/networkd and ENI already feed from the same network-config.
// Arguments: $1 the nameserver, $2 the search domain (may be empty).
constexpr char kResolvConfScript[] =
    "{ [ -L /etc/resolv.conf ] || command -v resolvconf >/dev/null; } && exit 0; "
    "{ echo \"nameserver $1\"; [ -z \"$2\" ] || echo \"search $2\"; } "
    ">/etc/resolv.conf.warren && mv /etc/resolv.conf.warren /etc/resolv.conf";

void AddCloudResolvConf(const SeedSpec& spec, nlohmann::json& c) {
  if (spec.dns.empty()) return;
  c["bootcmd"].push_back(
      {"sh", "-c", kResolvConfScript, "warren-resolv-conf", spec.dns, spec.search_domain});
}

// The user's cloud-config under warren's `c`: warren's keys win; for the list
// keys below the user's entries come first and warren's are appended (a user
// entry for root is dropped: warren's root entry carries its keys).
nlohmann::json MergeCloudConfig(const nlohmann::json& user, const nlohmann::json& warren) {
  static constexpr std::string_view kLists[] = {"users", "ssh_authorized_keys", "write_files",
                                                "runcmd", "bootcmd", "packages"};
  nlohmann::json out = user;
  for (const auto& [key, value] : warren.items()) {
    bool list = std::find(std::begin(kLists), std::end(kLists), key) != std::end(kLists);
    if (!list || !out.contains(key) || !out[key].is_array() || !value.is_array()) {
      out[key] = value;
      continue;
    }
    nlohmann::json merged = nlohmann::json::array();
    for (const auto& item : out[key]) {
      bool root = key == "users" && (item == "root" || (item.is_object() && item.value("name", "") == "root"));
      if (!root) merged.push_back(item);
    }
    for (const auto& item : value) merged.push_back(item);
    out[key] = std::move(merged);
  }
  return out;
}

std::string CloudConfig(const SeedSpec& spec) {
  nlohmann::json c = {
      {"hostname", spec.hostname},
      {"disable_root", false},
      {"ssh_pwauth", false},
      {"users", {{{"name", "root"}, {"ssh_authorized_keys", {spec.authorized_key}}}}},
      {"ssh_deletekeys", true},
      {"ssh_keys",
       {{"ed25519_private", spec.host_key->OpensshPrivateFile()},
        {"ed25519_public", spec.host_key->OpensshPublicLine()}}},
  };
  if (!spec.user_data.empty()) {
    c["write_files"] = {{{"path", "/var/lib/warren/user-data"},
                         {"permissions", "0700"},
                         {"encoding", "b64"},
                         {"content", Base64Encode(spec.user_data)}}};
    // The same protocol as warren's run-user-data: output and exit status where
    // the user_data capability reads them once the guest is ready.
    c["runcmd"] = {{"sh", "-c",
                    "/var/lib/warren/user-data >/var/log/warren-user-data.log 2>&1; "
                    "echo $? >/var/lib/warren/user-data.status"}};
  }
  for (const std::string& key : spec.extra_authorized_keys) {
    c["users"][0]["ssh_authorized_keys"].push_back(key);
  }
  AddCloudResolvConf(spec, c);
  AddCloudMounts(spec, c);
  if (!spec.cloud_config.empty()) c = MergeCloudConfig(spec.cloud_config, c);
  // JSON is valid YAML, and nlohmann quotes every string safely.
  return "#cloud-config\n" + c.dump(2) + "\n";
}

// Network config v2, in the subset every cloud-init from 20.x (Debian 11,
// Ubuntu 20.04) to 25.x parses, whichever renderer it uses (ifupdown's ENI,
// netplan, networkd): only netplan understands a route `to: default`; the
// renderers cloud-init converts v2 for itself refuse it (22.4, 25.1: "Address
// default is not a valid ip address", then nothing is configured) or mangle
// it (20.4), so the default route is `to: 0.0.0.0/0`. `gateway4` would work
// but netplan deprecates it. With a MAC the NIC is matched by it and named eth0 whatever the
// image's interface naming (`set-name` needs a `match`).
std::string NetworkConfig(const SeedSpec& spec) {
  nlohmann::json eth = nlohmann::json::object();
  if (spec.mac.empty()) {
    eth["match"] = {{"name", "e*"}};
  } else {
    eth["match"] = {{"macaddress", spec.mac}};
    eth["set-name"] = "eth0";
  }
  if (!spec.ip.empty()) {
    eth["addresses"] = {spec.ip + "/" + std::to_string(spec.prefix)};
    if (!spec.gateway.empty()) eth["routes"] = {{{"to", "0.0.0.0/0"}, {"via", spec.gateway}}};
    if (!spec.dns.empty()) {
      eth["nameservers"]["addresses"] = {spec.dns};
      if (!spec.search_domain.empty()) eth["nameservers"]["search"] = {spec.search_domain};
    }
  } else {
    eth["dhcp4"] = true;
  }
  nlohmann::json n = {{"version", 2}, {"ethernets", {{"eth0", eth}}}};
  return n.dump(2) + "\n";
}

}  // namespace

Status ValidateSeedSpec(const SeedSpec& s) {
  if (s.instance_id.empty() || !IsSingleLine(s.instance_id) || s.instance_id.size() > 128) {
    return Bad("instance_id", s.instance_id, "must be a non-empty single line");
  }
  if (!IsLabel(s.hostname)) return Bad("hostname", s.hostname, "must be a DNS label");
  if (!s.ip.empty() && !IsIpv4(s.ip)) return Bad("ip", s.ip, "must be an IPv4 address");
  if (s.prefix < 0 || s.prefix > 32) {
    return Bad("prefix", std::to_string(s.prefix), "must be 0..32");
  }
  if (!s.gateway.empty() && !IsIpv4(s.gateway)) {
    return Bad("gateway", s.gateway, "must be an IPv4 address");
  }
  if (!s.dns.empty() && !IsIpv4(s.dns)) return Bad("dns", s.dns, "must be an IPv4 address");
  if (!s.search_domain.empty() && !IsDomain(s.search_domain)) {
    return Bad("search_domain", s.search_domain, "must be a domain name");
  }
  if (!s.mac.empty() && (s.mac.size() != 17 || !IsSingleLine(s.mac))) {
    return Bad("mac", s.mac, "must look like 52:54:00:12:34:56");
  }
  if (s.authorized_key.rfind("ssh-", 0) != 0 && s.authorized_key.rfind("ecdsa-", 0) != 0) {
    return Bad("authorized_key", s.authorized_key, "must be an OpenSSH public key line");
  }
  if (!IsSingleLine(s.authorized_key)) {
    return Bad("authorized_key", "...", "must be a single line");
  }
  if (!s.host_key) return Bad("host_key", "", "is required");
  if (!s.user_data.empty() && s.user_data.rfind("#!", 0) != 0) {
    return Bad("user_data", s.user_data.substr(0, 20), "must be a script starting with #!");
  }
  return ValidateCapabilityFields(s);
}

std::map<std::string, std::string> SeedFiles(const SeedSpec& spec) {
  std::map<std::string, std::string> files;
  files["meta-data"] =
      nlohmann::json{{"instance-id", spec.instance_id}, {"local-hostname", spec.hostname}}.dump() +
      "\n";
  files["user-data"] = CloudConfig(spec);
  files["network-config"] = NetworkConfig(spec);
  std::string env = "HOSTNAME=" + spec.hostname + "\n";
  if (!spec.ip.empty()) {
    env += "ADDRESS=" + spec.ip + "/" + std::to_string(spec.prefix) + "\n";
    if (!spec.gateway.empty()) env += "GATEWAY=" + spec.gateway + "\n";
    if (!spec.dns.empty()) env += "DNS=" + spec.dns + "\n";
    if (!spec.search_domain.empty()) env += "SEARCH=" + spec.search_domain + "\n";
  }
  env += "AUTHORIZED_KEY=" + spec.authorized_key + "\n";
  CHECK(spec.host_key.has_value() && "SeedFiles needs a validated spec");
  env += "HOST_KEY_ED25519=" + Base64Encode(spec.host_key->OpensshPrivateFile()) + "\n";
  env += "HOST_KEY_ED25519_PUB=" + spec.host_key->OpensshPublicLine() + "\n";
  env += CapabilityEnv(spec);
  files["warren.env"] = env;
  files["dropbear_ed25519_host_key"] = spec.host_key->DropbearPrivateFile();
  if (!spec.user_data.empty()) files["warren-user-data"] = spec.user_data;
  return files;
}

Status WriteSeedIso(Runner& runner, const SeedSpec& spec, const fs::path& out,
                    std::stop_token stop) {
  RETURN_IF_ERROR(ValidateSeedSpec(spec));
  fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  ASSIGN_OR_RETURN(ScratchDir dir, ScratchDir::Create(parent, ".seed"));
  fs::path content = dir.path() / "cidata";
  std::error_code ec;
  fs::create_directory(content, ec);
  if (ec) return Internal("create " + content.string() + ": " + ec.message());
  for (const auto& [name, data] : SeedFiles(spec)) {
    RETURN_IF_ERROR(WriteFile(content / name, data));
  }
  fs::path tmp = dir.path() / "seed.iso";
  RunSpec run;
  run.argv = {"genisoimage", "-quiet",  "-output", tmp.string(),    "-volid",
              "cidata",      "-joliet", "-rock",   content.string()};
  run.timeout = std::chrono::seconds(60);
  Result<std::string> r = RunAndCheck(runner, run, stop);
  if (!r.ok()) return r.error().Annotate("writing seed " + out.string());
  fs::rename(tmp, out, ec);
  if (ec) return Internal("rename seed into " + out.string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace warren
