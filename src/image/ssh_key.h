#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace warren {

// An Ed25519 key pair as raw bytes, generated in-process (OpenSSL), and the
// files each SSH server reads it from. warren only ever writes these formats,
// never parses them: the daemon keeps the raw pair it generated.
//
// Immutable value; thread-safe.
class Ed25519Key {
 public:
  // A fresh pair from OpenSSL's CSPRNG. `comment` (one line) ends the OpenSSH
  // public line and is stored in the OpenSSH private file. Internal if
  // OpenSSL fails; InvalidArgument for a multi-line comment.
  static Result<Ed25519Key> Generate(std::string_view comment);
  // From a 32-byte seed (RFC 8032's private key); the public half is derived.
  // InvalidArgument for a seed of another size. For golden tests.
  static Result<Ed25519Key> FromSeed(std::string_view seed, std::string_view comment);

  const std::string& seed() const { return seed_; }              // 32 bytes
  const std::string& public_bytes() const { return public_; }    // 32 bytes
  const std::string& comment() const { return comment_; }

  // "ssh-ed25519 AAAA... comment" (no newline): authorized_keys / .pub line.
  std::string OpensshPublicLine() const;
  // The unencrypted openssh-key-v1 file (OpenSSH's PROTOCOL.key), as
  // `ssh-keygen -t ed25519 -N ''` writes it, 70-column base64 between the
  // BEGIN/END lines.
  std::string OpensshPrivateFile() const;
  // dropbear's own host key file (what `dropbearconvert openssh dropbear`
  // writes): string "ssh-ed25519" + string (seed || public), SSH wire format.
  std::string DropbearPrivateFile() const;

 private:
  Ed25519Key(std::string seed, std::string public_bytes, std::string comment)
      : seed_(std::move(seed)), public_(std::move(public_bytes)), comment_(std::move(comment)) {}

  std::string seed_;
  std::string public_;
  std::string comment_;
};

// An OpenSSH key pair as files: what the daemon keeps as its own identity.
struct SshKeyPair {
  std::string private_key;  // openssh-key-v1 file contents, unencrypted
  std::string public_key;   // "ssh-ed25519 AAAA... comment" (no trailing newline)
};

// A fresh Ed25519 pair (Ed25519Key::Generate) in OpenSSH's formats.
Result<SshKeyPair> GenerateEd25519KeyPair(std::string_view comment);

}  // namespace warren
