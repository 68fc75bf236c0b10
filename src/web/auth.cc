#include "web/auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace warren::web {
namespace {

constexpr size_t kTokenBytes = 32;  // 256 bits
constexpr std::string_view kCookieLabel = "warren web session v1";

std::string Hex(const unsigned char* p, size_t n) {
  std::string out(2 * n, '\0');
  for (size_t i = 0; i < n; ++i) std::snprintf(&out[2 * i], 3, "%02x", p[i]);
  return out;
}

Result<std::string> NewToken() {
  unsigned char raw[kTokenBytes];
  if (RAND_bytes(raw, sizeof(raw)) != 1) return Internal("no random bytes for the web token");
  return Hex(raw, sizeof(raw));
}

bool WellFormed(std::string_view token) {
  if (token.size() != 2 * kTokenBytes) return false;
  for (char c : token) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string DeriveCookie(const std::string& token) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), token.data(), static_cast<int>(token.size()),
       reinterpret_cast<const unsigned char*>(kCookieLabel.data()), kCookieLabel.size(), mac,
       &len);
  return Hex(mac, len);
}

// The token if the file exists, is ours alone and well-formed; "" otherwise.
std::string ReadToken(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return "";
  struct stat st;
  char buf[2 * kTokenBytes + 2];
  ssize_t got = -1;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
      (st.st_mode & 077) == 0) {
    got = ::read(fd, buf, sizeof(buf));
  }
  ::close(fd);
  if (got <= 0) return "";
  std::string token(buf, static_cast<size_t>(got));
  while (!token.empty() && (token.back() == '\n')) token.pop_back();
  return WellFormed(token) ? token : "";
}

// Written beside the target with mode 0600 from the start, then renamed over it.
Status WriteToken(const std::filesystem::path& file, const std::string& token) {
  const std::string tmp = file.string() + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoError("create " + tmp, errno);
  const std::string text = token + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    return ErrnoError("write the web token to " + file.string(), err);
  }
  return Status::Ok();
}

}  // namespace

bool SecretEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<std::unique_ptr<WebAuth>> WebAuth::Open(std::filesystem::path token_file) {
  std::string token = ReadToken(token_file);
  if (token.empty()) {
    ASSIGN_OR_RETURN(token, NewToken());
    RETURN_IF_ERROR(WriteToken(token_file, token));
  }
  return std::unique_ptr<WebAuth>(new WebAuth(std::move(token_file), std::move(token)));
}

std::unique_ptr<WebAuth> WebAuth::ForTest(std::string token) {
  return std::unique_ptr<WebAuth>(new WebAuth({}, std::move(token)));
}

WebAuth::WebAuth(std::filesystem::path file, std::string token) : file_(std::move(file)) {
  MutexLock lock(&mu_);
  SetLocked(std::move(token));
}

void WebAuth::SetLocked(std::string token) {
  cookie_ = DeriveCookie(token);
  token_ = std::move(token);
}

std::string WebAuth::Token() const {
  MutexLock lock(&mu_);
  return token_;
}

std::string WebAuth::CookieValue() const {
  MutexLock lock(&mu_);
  return cookie_;
}

bool WebAuth::CheckToken(std::string_view token) const {
  MutexLock lock(&mu_);
  return SecretEquals(token, token_);
}

bool WebAuth::CheckCookie(std::string_view value) const {
  MutexLock lock(&mu_);
  return SecretEquals(value, cookie_);
}

Status WebAuth::Rotate() {
  ASSIGN_OR_RETURN(std::string token, NewToken());
  if (!file_.empty()) RETURN_IF_ERROR(WriteToken(file_, token));
  MutexLock lock(&mu_);
  SetLocked(std::move(token));
  return Status::Ok();
}

}  // namespace warren::web
