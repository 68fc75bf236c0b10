#pragma once

// ssh_key: more OpenSSH public keys authorized for root in the guest, beside
// the daemon's own (`vm create --ssh-key FILE`, repeatable). Only what is
// asked: nothing from ~/.ssh is added silently (the CLI reads the files).
//
// Request: ["ssh-ed25519 AAAA... comment", ...]. Each line must be a public key
// (type, base64 blob whose embedded type matches, optional comment); options
// (from=..., command=...) are refused. Settings: the lines, trimmed.
// The seed carries them (warren.env AUTHORIZED_KEY_EXTRA, cloud-config
// ssh_authorized_keys); nothing runs on the host afterwards.
//
// Thread-safety: stateless.

#include <string>
#include <string_view>
#include <vector>

#include "vm/capability.h"

namespace warren {

// Checks one OpenSSH public key line; returns it trimmed. InvalidArgument
// naming what is wrong (never the whole line: it may be a private key pasted
// by mistake).
Result<std::string> ParseAuthorizedKeyLine(std::string_view line);
// "SHA256:..." as `ssh-keygen -lf` prints it, for a line ParseAuthorizedKeyLine accepted.
std::string KeyFingerprint(std::string_view line);

// The guest command that authorizes `line` (ParseAuthorizedKeyLine's output)
// for root on a running guest, as the seed's scripts lay the file out
// (/root/.ssh 0700, authorized_keys 0600): appended unless the exact line is
// there, so running it again changes nothing. The key travels as an argument,
// never through the shell's parser. The seed rewrites the file at each boot,
// so a caller re-runs this after a restart (`warren proxy` does on each use).
std::vector<std::string> AuthorizeKeyArgv(const std::string& line);

class SshKeyCapability final : public Capability {
 public:
  static constexpr size_t kMaxKeys = 64;

  std::string_view Name() const override { return "ssh_key"; }
  bool NeedsFirstBoot() const override { return true; }
  Result<nlohmann::json> Validate(const nlohmann::json& request,
                                  const CreateRequest& create) override;
  Status ContributeSeed(const CapVm& vm, const nlohmann::json& settings,
                        SeedSpec& seed) override;
  // [{type, comment, fingerprint}]: which keys, not the keys.
  nlohmann::json Describe(const nlohmann::json& settings) const override;
};

}  // namespace warren
