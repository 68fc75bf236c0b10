#include "image/ssh_key.h"

#include <openssl/evp.h>

#include <memory>

#include "image/digest.h"

namespace warren {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

constexpr size_t kKeyBytes = 32;
constexpr std::string_view kType = "ssh-ed25519";

void PutU32(std::string& out, uint32_t n) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
}

// An SSH wire-format string (RFC 4251): u32 length, then the bytes.
void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

Result<std::string> RawKey(EVP_PKEY* key, bool private_half) {
  std::string out(kKeyBytes, '\0');
  size_t len = out.size();
  auto* buf = reinterpret_cast<unsigned char*>(out.data());
  int ok = private_half ? EVP_PKEY_get_raw_private_key(key, buf, &len)
                        : EVP_PKEY_get_raw_public_key(key, buf, &len);
  if (ok != 1 || len != kKeyBytes) return Internal("OpenSSL could not export an Ed25519 key");
  return out;
}

Status CheckComment(std::string_view comment) {
  if (comment.find_first_of("\r\n") != std::string_view::npos) {
    return InvalidArgument("ssh key comment must be a single line");
  }
  return Status::Ok();
}

}  // namespace

Result<Ed25519Key> Ed25519Key::Generate(std::string_view comment) {
  RETURN_IF_ERROR(CheckComment(comment));
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return Internal("OpenSSL could not generate an Ed25519 key");
  ASSIGN_OR_RETURN(std::string seed, RawKey(key.get(), true));
  ASSIGN_OR_RETURN(std::string pub, RawKey(key.get(), false));
  return Ed25519Key(std::move(seed), std::move(pub), std::string(comment));
}

Result<Ed25519Key> Ed25519Key::FromSeed(std::string_view seed, std::string_view comment) {
  RETURN_IF_ERROR(CheckComment(comment));
  if (seed.size() != kKeyBytes) return InvalidArgument("an Ed25519 seed is 32 bytes");
  PkeyPtr key(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size()));
  if (!key) return Internal("OpenSSL refused an Ed25519 seed");
  ASSIGN_OR_RETURN(std::string pub, RawKey(key.get(), false));
  return Ed25519Key(std::string(seed), std::move(pub), std::string(comment));
}

std::string Ed25519Key::OpensshPublicLine() const {
  std::string blob;
  PutString(blob, kType);
  PutString(blob, public_);
  std::string line = std::string(kType) + " " + Base64Encode(blob);
  if (!comment_.empty()) line += " " + comment_;
  return line;
}

std::string Ed25519Key::OpensshPrivateFile() const {
  std::string public_blob;
  PutString(public_blob, kType);
  PutString(public_blob, public_);
  // The private section: two equal check words (they only detect a wrong
  // passphrase, so any value does; derived from the key to stay
  // deterministic), the key, the comment, then padding 1, 2, 3... to a
  // multiple of 8 (the "none" cipher's block size).
  std::string section;
  uint32_t check = 0;
  for (size_t i = 0; i < 4; ++i) check = (check << 8) | static_cast<uint8_t>(public_[i]);
  PutU32(section, check);
  PutU32(section, check);
  PutString(section, kType);
  PutString(section, public_);
  PutString(section, seed_ + public_);
  PutString(section, comment_);
  for (char pad = 1; section.size() % 8 != 0; ++pad) section.push_back(pad);

  std::string raw("openssh-key-v1\0", 15);
  PutString(raw, "none");  // cipher
  PutString(raw, "none");  // kdf
  PutString(raw, "");      // kdf options
  PutU32(raw, 1);          // one key
  PutString(raw, public_blob);
  PutString(raw, section);

  std::string b64 = Base64Encode(raw);
  std::string file = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
  for (size_t i = 0; i < b64.size(); i += 70) file += b64.substr(i, 70) + "\n";
  file += "-----END OPENSSH PRIVATE KEY-----\n";
  return file;
}

std::string Ed25519Key::DropbearPrivateFile() const {
  std::string out;
  PutString(out, kType);
  PutString(out, seed_ + public_);
  return out;
}

Result<SshKeyPair> GenerateEd25519KeyPair(std::string_view comment) {
  ASSIGN_OR_RETURN(Ed25519Key key, Ed25519Key::Generate(comment));
  return SshKeyPair{key.OpensshPrivateFile(), key.OpensshPublicLine()};
}

}  // namespace warren
