#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "base/status.h"
#include "image/ssh_key.h"
#include "sys/runner.h"

namespace warren {

// Per-VM guest configuration, delivered at boot as a NoCloud seed: an ISO9660
// volume labelled "cidata" attached as a second virtio disk. Stock cloud
// images read meta-data, user-data (#cloud-config) and network-config (v2);
// warren's own guests read warren.env (KEY=VALUE, one per line, values taken
// verbatim) and run warren-user-data. Both describe the same configuration.
struct SeedSpec {
  std::string instance_id;               // changes per VM; cloud-init reruns when it changes
  std::string hostname;                  // DNS label
  std::string ip;                        // IPv4 dotted quad; empty = leave the network unconfigured
  int prefix = 24;                       // 0..32
  std::string gateway;                   // IPv4 or empty
  std::string dns;                       // IPv4 or empty
  std::string search_domain;             // or empty
  std::string mac;                       // optional "52:54:00:..": network-config matches by it
  std::string authorized_key;            // one OpenSSH public key line, for root
  // The guest's SSH host key (the daemon pins its public half); required.
  std::optional<Ed25519Key> host_key;
  std::string user_data;                 // optional script (must start with "#!"), run once at boot
};

// Checks every field (InvalidArgument naming the field and the bad value).
Status ValidateSeedSpec(const SeedSpec& spec);

// The seed's files by name (meta-data, user-data, network-config, warren.env,
// dropbear_ed25519_host_key, and warren-user-data when spec.user_data is set).
// The host key goes in OpenSSH's format (cloud-config, warren.env) and in
// dropbear's own (dropbear_ed25519_host_key), so a guest running dropbear
// reads it straight from the seed instead of converting it at boot (a
// dynamically linked program started cold costs ~0.2 s under TCG).
// Pure; spec must be valid.
std::map<std::string, std::string> SeedFiles(const SeedSpec& spec);

// Validates `spec` and writes the seed ISO to `out` (atomically: a temp file
// renamed into place). Uses genisoimage through `runner`, and a scratch
// directory next to `out` that is removed on return. Errors: invalid spec,
// genisoimage missing or failing, I/O errors, cancellation via `stop`.
Status WriteSeedIso(Runner& runner, const SeedSpec& spec, const std::filesystem::path& out,
                    std::stop_token stop = {});

}  // namespace warren
