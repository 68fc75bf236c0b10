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

std::string TrimRight(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string CloudConfig(const SeedSpec& spec) {
  nlohmann::json c = {
      {"hostname", spec.hostname},
      {"disable_root", false},
      {"ssh_pwauth", false},
      {"users", {{{"name", "root"}, {"ssh_authorized_keys", {spec.authorized_key}}}}},
      {"ssh_deletekeys", true},
      {"ssh_keys",
       {{"ed25519_private", spec.host_key_ed25519_private},
        {"ed25519_public", spec.host_key_ed25519_public}}},
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

std::string NetworkConfig(const SeedSpec& spec) {
  nlohmann::json eth = nlohmann::json::object();
  eth["match"] =
      spec.mac.empty() ? nlohmann::json{{"name", "e*"}} : nlohmann::json{{"macaddress", spec.mac}};
  if (!spec.ip.empty()) {
    eth["addresses"] = {spec.ip + "/" + std::to_string(spec.prefix)};
    if (!spec.gateway.empty()) eth["routes"] = {{{"to", "default"}, {"via", spec.gateway}}};
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

// Standard base64, whitespace ignored. nullopt on any other character or bad
// padding.
std::optional<std::string> Base64Decode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0, pad = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else if (c == '=') { ++pad; continue; }
    else if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    else return std::nullopt;
    if (pad > 0) return std::nullopt;  // data after padding
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (pad > 2) return std::nullopt;
  return out;
}

// Reads SSH wire-format values (RFC 4251) from a buffer.
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}
  std::optional<uint32_t> U32() {
    if (data_.size() < 4) return std::nullopt;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(data_[i]);
    data_.remove_prefix(4);
    return v;
  }
  std::optional<std::string_view> String() {
    std::optional<uint32_t> n = U32();
    if (!n || *n > data_.size()) return std::nullopt;
    std::string_view s = data_.substr(0, *n);
    data_.remove_prefix(*n);
    return s;
  }

 private:
  std::string_view data_;
};

void PutString(std::string& out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(s);
}

struct Ed25519Key {
  std::string public_blob;  // string "ssh-ed25519" + string pk: the .pub file's base64
  std::string secret;       // 64 bytes: seed then public key
};

constexpr std::string_view kKeyBegin = "-----BEGIN OPENSSH PRIVATE KEY-----";
constexpr std::string_view kKeyEnd = "-----END OPENSSH PRIVATE KEY-----";

// Parses an unencrypted openssh-key-v1 file holding one ed25519 key (the
// format of OpenSSH's PROTOCOL.key).
Result<Ed25519Key> ParseOpensshEd25519(std::string_view file) {
  auto bad = [](std::string_view why) {
    return InvalidArgument("not an unencrypted OpenSSH ed25519 private key: " + std::string(why));
  };
  size_t begin = file.find(kKeyBegin);
  size_t end = file.find(kKeyEnd);
  if (begin == std::string_view::npos || end == std::string_view::npos || end < begin) {
    return bad("no BEGIN/END OPENSSH PRIVATE KEY lines");
  }
  begin += kKeyBegin.size();
  std::optional<std::string> raw = Base64Decode(file.substr(begin, end - begin));
  if (!raw) return bad("bad base64");
  constexpr std::string_view kMagic("openssh-key-v1\0", 15);
  if (raw->compare(0, kMagic.size(), kMagic) != 0) return bad("no openssh-key-v1 magic");
  WireReader r(std::string_view(*raw).substr(kMagic.size()));
  auto cipher = r.String();
  auto kdf = r.String();
  auto kdf_options = r.String();
  auto count = r.U32();
  auto public_blob = r.String();
  auto private_section = r.String();
  if (!cipher || !kdf || !kdf_options || !count || !public_blob || !private_section) {
    return bad("truncated");
  }
  if (*cipher != "none" || *kdf != "none") return bad("encrypted");
  if (*count != 1) return bad("more than one key");
  WireReader p(*private_section);
  auto check1 = p.U32();
  auto check2 = p.U32();
  auto type = p.String();
  auto pk = p.String();
  auto sk = p.String();
  if (!check1 || !check2 || !type || !pk || !sk) return bad("truncated private section");
  if (*check1 != *check2) return bad("check bytes differ");
  if (*type != "ssh-ed25519") return bad("key type " + std::string(*type));
  if (pk->size() != 32 || sk->size() != 64 || sk->substr(32) != *pk) {
    return bad("bad ed25519 key lengths");
  }
  WireReader pub(*public_blob);
  auto pub_type = pub.String();
  auto pub_pk = pub.String();
  if (!pub_type || !pub_pk || *pub_type != "ssh-ed25519" || *pub_pk != *pk) {
    return bad("public and private parts differ");
  }
  return Ed25519Key{std::string(*public_blob), std::string(*sk)};
}

}  // namespace

Result<std::string> DropbearEd25519Key(std::string_view openssh_private) {
  ASSIGN_OR_RETURN(Ed25519Key key, ParseOpensshEd25519(openssh_private));
  std::string out;
  PutString(out, "ssh-ed25519");
  PutString(out, key.secret);
  return out;
}

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
  Result<Ed25519Key> host_key = ParseOpensshEd25519(s.host_key_ed25519_private);
  if (!host_key.ok()) {
    return Bad("host_key_ed25519_private", "...", host_key.error().message());
  }
  if (s.host_key_ed25519_public.rfind("ssh-ed25519 ", 0) != 0 ||
      !IsSingleLine(s.host_key_ed25519_public)) {
    return Bad("host_key_ed25519_public", s.host_key_ed25519_public,
               "must be one \"ssh-ed25519 ...\" line");
  }
  std::string_view pub_b64 = std::string_view(s.host_key_ed25519_public).substr(12);
  pub_b64 = pub_b64.substr(0, pub_b64.find(' '));
  if (Base64Decode(pub_b64) != host_key->public_blob) {
    return Bad("host_key_ed25519_public", s.host_key_ed25519_public,
               "is not the public half of host_key_ed25519_private");
  }
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
  env += "HOST_KEY_ED25519=" + Base64Encode(spec.host_key_ed25519_private) + "\n";
  env += "HOST_KEY_ED25519_PUB=" + spec.host_key_ed25519_public + "\n";
  files["warren.env"] = env;
  Result<std::string> dropbear_key = DropbearEd25519Key(spec.host_key_ed25519_private);
  CHECK(dropbear_key.ok() && "SeedFiles needs a validated spec");
  files["dropbear_ed25519_host_key"] = *dropbear_key;
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

Result<SshKeyPair> GenerateEd25519KeyPair(Runner& runner, const fs::path& scratch_parent,
                                          std::string_view comment, std::stop_token stop) {
  if (!IsSingleLine(comment)) return InvalidArgument("ssh key comment must be a single line");
  ASSIGN_OR_RETURN(ScratchDir dir, ScratchDir::Create(scratch_parent, ".keygen"));
  fs::path key = dir.path() / "key";
  RunSpec run;
  run.argv = {"ssh-keygen",         "-q", "-t",        "ed25519", "-N", "", "-C",
              std::string(comment), "-f", key.string()};
  run.timeout = std::chrono::seconds(30);
  Result<std::string> r = RunAndCheck(runner, run, stop);
  if (!r.ok()) return r.error().Annotate("generating an ed25519 key pair");
  SshKeyPair pair;
  ASSIGN_OR_RETURN(pair.private_key, ReadFileToString(key));
  ASSIGN_OR_RETURN(std::string pub, ReadFileToString(key.string() + ".pub"));
  pair.public_key = TrimRight(std::move(pub));
  return pair;
}

}  // namespace warren
