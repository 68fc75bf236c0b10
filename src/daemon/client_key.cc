#include "daemon/client_key.h"

#include <libssh/libssh.h>

#include <memory>

#include "sys/files.h"

namespace warren {
namespace {

namespace fs = std::filesystem;

struct KeyFree {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
using KeyPtr = std::unique_ptr<std::remove_pointer_t<ssh_key>, KeyFree>;

Result<SshKeyPair> Generate() {
  ssh_key raw = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &raw) != SSH_OK) {
    return Internal("libssh could not generate an Ed25519 key");
  }
  KeyPtr key(raw);
  char* priv = nullptr;
  if (ssh_pki_export_privkey_base64(key.get(), nullptr, nullptr, nullptr, &priv) != SSH_OK) {
    return Internal("libssh could not export the private key");
  }
  std::string private_key(priv);
  ssh_string_free_char(priv);
  char* pub = nullptr;
  if (ssh_pki_export_pubkey_base64(key.get(), &pub) != SSH_OK) {
    return Internal("libssh could not export the public key");
  }
  std::string public_key = std::string("ssh-ed25519 ") + pub + " warren-daemon";
  ssh_string_free_char(pub);
  return SshKeyPair{std::move(private_key), std::move(public_key)};
}

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
  ASSIGN_OR_RETURN(SshKeyPair pair, Generate());
  // A lone half can only be left by a crash between these two writes, before
  // any VM was seeded with it, so the next start simply makes a new pair.
  RETURN_IF_ERROR(WriteFileAtomically(path, pair.private_key, 0600));
  RETURN_IF_ERROR(WriteFileAtomically(pub, pair.public_key + "\n", 0644));
  return pair;
}

}  // namespace warren
