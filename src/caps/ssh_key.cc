#include "caps/ssh_key.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "image/digest.h"

namespace warren {
namespace {

// Key types OpenSSH's sshd accepts in authorized_keys.
constexpr std::array<std::string_view, 8> kKeyTypes = {
    "ssh-ed25519",         "ssh-rsa",
    "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss"};

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict standard base64 (padding required), as OpenSSH writes key blobs.
std::optional<std::string> Base64Decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '=') {
      if (i + 2 < in.size()) return std::nullopt;  // '=' only in the last two places
      ++pad;
      continue;
    }
    if (pad > 0) return std::nullopt;
    int v = Base64Value(in[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string HexToBytes(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

}  // namespace

Result<std::string> ParseAuthorizedKeyLine(std::string_view raw) {
  std::string_view line = Trim(raw);
  if (line.empty()) return InvalidArgument("ssh_key: an empty line is not a public key");
  if (line.find_first_of(std::string_view("\n\0", 2)) != std::string_view::npos) {
    return InvalidArgument("ssh_key: one key per entry (a line break was found)");
  }
  if (line.find("PRIVATE KEY") != std::string_view::npos) {
    return InvalidArgument(
        "ssh_key: this is a private key; give the public one (the .pub file)");
  }
  size_t sp = line.find_first_of(" \t");
  std::string_view type = line.substr(0, sp);
  bool known = false;
  for (std::string_view t : kKeyTypes) known = known || t == type;
  if (!known) {
    std::string shown(type.substr(0, 40));
    return InvalidArgument("ssh_key: \"" + shown +
                           "\" is not an OpenSSH public key type (e.g. ssh-ed25519, ssh-rsa); "
                           "options such as from=\"...\" are not accepted");
  }
  if (sp == std::string_view::npos) return InvalidArgument("ssh_key: " + std::string(type) + " key has no key data");
  std::string_view rest = Trim(line.substr(sp));
  std::string_view blob64 = rest.substr(0, rest.find_first_of(" \t"));
  std::optional<std::string> blob = Base64Decode(blob64);
  // The blob starts with the key type as an SSH string (u32 length + bytes).
  std::string want;
  for (int shift : {24, 16, 8, 0}) want.push_back(static_cast<char>((type.size() >> shift) & 0xff));
  want += type;
  if (!blob || blob->compare(0, want.size(), want) != 0 || blob->size() <= want.size()) {
    return InvalidArgument("ssh_key: the " + std::string(type) +
                           " key's data is not valid base64 of a key of that type");
  }
  return std::string(line);
}

std::string KeyFingerprint(std::string_view line) {
  std::string_view rest = Trim(line.substr(line.find_first_of(" \t")));
  std::optional<std::string> blob = Base64Decode(rest.substr(0, rest.find_first_of(" \t")));
  std::string b64 = Base64Encode(HexToBytes(Sha256Hex(blob.value_or(""))));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "SHA256:" + b64;
}

std::vector<std::string> AuthorizeKeyArgv(const std::string& line) {
  static constexpr std::string_view kScript =
      "umask 077; mkdir -p /root/.ssh && f=/root/.ssh/authorized_keys && touch \"$f\" && "
      "{ grep -qxF -e \"$1\" \"$f\" || { [ -z \"$(tail -c1 \"$f\")\" ] || echo >>\"$f\"; "
      "printf '%s\\n' \"$1\" >>\"$f\"; }; }";
  return {"sh", "-c", std::string(kScript), "sh", line};
}

Result<nlohmann::json> SshKeyCapability::Validate(const nlohmann::json& request,
                                                  const CreateRequest&) {
  if (!request.is_array() || request.empty()) {
    return InvalidArgument("ssh_key: expected a non-empty array of public key lines");
  }
  if (request.size() > kMaxKeys) {
    return InvalidArgument("ssh_key: at most " + std::to_string(kMaxKeys) + " keys");
  }
  nlohmann::json keys = nlohmann::json::array();
  for (size_t i = 0; i < request.size(); ++i) {
    if (!request[i].is_string()) return InvalidArgument("ssh_key: entry " + std::to_string(i) + " is not a string");
    Result<std::string> key = ParseAuthorizedKeyLine(request[i].get<std::string>());
    if (!key.ok()) return key.error().Annotate("key " + std::to_string(i + 1));
    keys.push_back(*key);
  }
  return keys;
}

Status SshKeyCapability::ContributeSeed(const CapVm&, const nlohmann::json& settings,
                                        SeedSpec& seed) {
  for (const auto& key : settings) seed.extra_authorized_keys.push_back(key.get<std::string>());
  return Status::Ok();
}

nlohmann::json SshKeyCapability::Describe(const nlohmann::json& settings) const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& key : settings) {
    std::string line = key.get<std::string>();
    std::string_view rest = Trim(std::string_view(line).substr(line.find_first_of(" \t")));
    size_t sp = rest.find_first_of(" \t");
    std::string comment = sp == std::string_view::npos ? "" : std::string(Trim(rest.substr(sp)));
    out.push_back({{"type", line.substr(0, line.find_first_of(" \t"))},
                   {"comment", comment},
                   {"fingerprint", KeyFingerprint(line)}});
  }
  return out;
}

}  // namespace warren
