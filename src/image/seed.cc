#include "image/seed.h"

#include <arpa/inet.h>
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
    c["runcmd"] = {{"/var/lib/warren/user-data"}};
  }
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
  return Status::Ok();
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
