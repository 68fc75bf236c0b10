#pragma once

#include <filesystem>

#include "base/status.h"
#include "image/ssh_key.h"

namespace warren {

// The daemon's own SSH identity, authorized in every guest through its seed.
// Loads `path` (OpenSSH private key) and `path`.pub, or, when neither exists,
// generates an Ed25519 pair in-process (OpenSSL) and writes both (0600 / 0644,
// each through a temp file and a rename). FailedPrecondition if the private
// key does not parse.
Result<SshKeyPair> LoadOrCreateClientKey(const std::filesystem::path& path);

}  // namespace warren
