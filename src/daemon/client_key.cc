#include "daemon/client_key.h"

#include <libssh/libssh.h>

#include <memory>

#include "sys/files.h"

namespace warren {
namespace {

namespace fs = std::filesystem;

std::string FirstLine(std::string s) {
  size_t nl = s.find_first_of("\r\n");
  if (nl != std::string::npos) s.resize(nl);
  return s;
}

}  // namespace

Result<SshKeyPair> LoadOrCreateClientKey(const fs::path& path) {
  const fs::path pub = path.string() + ".pub";
  if (fs::exists(path) && fs::exists(pub)) {
    ASSIGN_OR_RETURN(std::string priv, ReadFileToString(path));
    ASSIGN_OR_RETURN(std::string pub_text, ReadFileToString(pub));
    ssh_key raw = nullptr;
    if (ssh_pki_import_privkey_base64(priv.c_str(), nullptr, nullptr, nullptr, &raw) != SSH_OK) {
      return FailedPrecondition(path.string() + " is not an unencrypted OpenSSH private key");
    }
    ssh_key_free(raw);
    return SshKeyPair{std::move(priv), FirstLine(std::move(pub_text))};
  }
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return Internal("cannot create " + path.parent_path().string() + ": " + ec.message());
  ASSIGN_OR_RETURN(SshKeyPair pair, GenerateEd25519KeyPair("warren-daemon"));
  // A lone half can only be left by a crash between these two writes, before
  // any VM was seeded with it, so the next start simply makes a new pair.
  RETURN_IF_ERROR(WriteFileAtomically(path, pair.private_key, 0600));
  RETURN_IF_ERROR(WriteFileAtomically(pub, pair.public_key + "\n", 0644));
  return pair;
}

}  // namespace warren
