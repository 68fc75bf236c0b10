#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

  // What capabilities add (vm/capability.h); rendered by the functions named
  // in seed.cc's "capability fields" section.
  // More OpenSSH public key lines authorized for root, beside authorized_key.
  std::vector<std::string> extra_authorized_keys;
  // A user's #cloud-config (parsed; an object), merged under warren's own:
  // warren's keys win, its lists (users, ssh_authorized_keys, write_files,
  // runcmd, bootcmd) are appended to the user's. Only cloud-init reads it.
  nlohmann::json cloud_config = nlohmann::json::object();
  // virtiofs shares the guest mounts at boot: mount tag → guest directory.
  struct Mount {
    std::string tag;        // [A-Za-z0-9_], 1..31 (QEMU's mount_tag)
    std::string guest_dir;  // absolute, no whitespace
    bool ro = false;
  };
  std::vector<Mount> mounts;
  // Extra warren.env lines (KEY=VALUE): KEY [A-Z0-9_]+ not one of warren's own,
  // VALUE one line.
  std::vector<std::pair<std::string, std::string>> env;
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
