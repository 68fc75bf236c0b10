#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"

namespace warren::web {

// The web UI's login secret. A random 256-bit token (64 hex digits) lives in a
// file only the daemon's user can read (0600); the URL `warren web` prints
// carries it once, and the browser keeps a cookie derived from it
// (HMAC-SHA256(token, label)), so a cookie never reveals the token and every
// cookie dies with the token on Rotate. Comparisons are constant-time.
//
// Thread-safety: all methods are safe from any thread; mu_ is a leaf held only
// to copy or swap the strings (Rotate writes the file before taking it).
class WebAuth {
 public:
  // Reads the token from `token_file`, or writes a new one when the file is
  // absent, malformed, or readable by anyone but its owner.
  static Result<std::unique_ptr<WebAuth>> Open(std::filesystem::path token_file);
  // A token held in memory only (tests, fuzzers).
  static std::unique_ptr<WebAuth> ForTest(std::string token);

  std::string Token() const EXCLUDES(mu_);
  // The value of the warren_session cookie for the current token.
  std::string CookieValue() const EXCLUDES(mu_);
  bool CheckToken(std::string_view token) const EXCLUDES(mu_);
  bool CheckCookie(std::string_view value) const EXCLUDES(mu_);

  // A new token (written to the file first): every cookie issued so far is invalid.
  Status Rotate() EXCLUDES(mu_);

 private:
  WebAuth(std::filesystem::path file, std::string token);
  void SetLocked(std::string token) REQUIRES(mu_);

  const std::filesystem::path file_;  // empty: memory only
  mutable Mutex mu_{LockRank::kLeaf, "web auth"};
  std::string token_ GUARDED_BY(mu_);
  std::string cookie_ GUARDED_BY(mu_);
};

// Constant-time equality (lengths are not secret).
bool SecretEquals(std::string_view a, std::string_view b);

}  // namespace warren::web
