#include "session/libssh_dialer.h"

#include <libssh/libssh.h>
#include <sys/socket.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "base/check.h"
#include "session/libssh_connection.h"

namespace warren {
namespace {

using std::chrono::milliseconds;

// How often WaitForSsh probes the port, and how long one probe may take.
constexpr milliseconds kProbeInterval{50};
constexpr milliseconds kProbeTimeout{1000};
// After the handshake, every blocking libssh call on the session (channel open,
// exec request, exit status) is bounded by this.
constexpr long kOperationTimeoutSeconds = 30;

struct KeyDeleter {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyDeleter>;

std::string Fingerprint(ssh_key key) {
  unsigned char* hash = nullptr;
  size_t len = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) != 0) {
    return "SHA256:?";
  }
  char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
  std::string out = text != nullptr ? text : "SHA256:?";
  ssh_string_free_char(text);
  ssh_clean_pubkey_hash(&hash);
  return out;
}

struct PublicKey {
  KeyPtr key;
  std::string type_name;  // e.g. "ssh-ed25519"
};

// Parses an OpenSSH public key line: "TYPE BASE64 [comment]".
Result<PublicKey> ParsePublicKey(std::string_view line) {
  auto next_word = [&line]() {
    size_t start = line.find_first_not_of(" \t\r\n");
    if (start == std::string_view::npos) return std::string();
    size_t end = line.find_first_of(" \t\r\n", start);
    std::string word(line.substr(start, end - start));
    line = end == std::string_view::npos ? std::string_view() : line.substr(end);
    return word;
  };
  std::string type_name = next_word();
  std::string base64 = next_word();
  enum ssh_keytypes_e type = ssh_key_type_from_name(type_name.c_str());
  if (type == SSH_KEYTYPE_UNKNOWN || base64.empty()) {
    return InvalidArgument("guest host public key is not an OpenSSH public key line (\"" +
                           type_name + " AAAA...\")");
  }
  ssh_key key = nullptr;
  if (ssh_pki_import_pubkey_base64(base64.c_str(), type, &key) != SSH_OK) {
    return InvalidArgument("guest host public key of type " + type_name + " cannot be decoded");
  }
  return PublicKey{KeyPtr(key), type_name};
}

Result<KeyPtr> ParsePrivateKey(const std::string& text) {
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_base64(text.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
    return InvalidArgument(
        "the daemon's SSH private key cannot be parsed "
        "(unencrypted OpenSSH key expected)");
  }
  return KeyPtr(key);
}

// The host key algorithms to offer: only the seeded key's, so a guest holding
// several host keys (OpenSSH) presents the one we know.
std::string HostKeyAlgorithms(const std::string& type_name) {
  if (type_name == "ssh-rsa") return "rsa-sha2-512,rsa-sha2-256,ssh-rsa";
  return type_name;
}

Status SetOptions(ssh_session s, const GuestEndpoint& ep, const std::string& algos,
                  milliseconds timeout, int fd) {
  unsigned int port = static_cast<unsigned int>(ep.port);
  int verbosity = SSH_LOG_NOLOG;
  bool process_config = false;
  long secs = std::max<long>(timeout.count(), 1) / 1000;
  long usecs = (std::max<long>(timeout.count(), 1) % 1000) * 1000;
  socket_t sock = fd;
  bool ok = ssh_options_set(s, SSH_OPTIONS_HOST, ep.ip.c_str()) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_PORT, &port) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_USER, ep.user.c_str()) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &process_config) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, algos.c_str()) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &secs) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &usecs) == 0 &&
            ssh_options_set(s, SSH_OPTIONS_FD, &sock) == 0;
  if (!ok) return Internal("setting libssh options for " + ep.ip + ": " + ssh_get_error(s));
  return Status::Ok();
}

Status CheckHostKey(ssh_session s, const GuestEndpoint& ep, ssh_key expected) {
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(s, &raw) != SSH_OK) {
    return Unavailable("no host key from " + ep.ip + ": " + ssh_get_error(s));
  }
  KeyPtr server(raw);
  if (ssh_key_cmp(server.get(), expected, SSH_KEY_CMP_PUBLIC) != 0) {
    return FailedPrecondition("host key mismatch for " + ep.ip + ": expected " +
                              Fingerprint(expected) + ", got " + Fingerprint(server.get()));
  }
  return Status::Ok();
}

Status Authenticate(ssh_session s, const GuestEndpoint& ep, ssh_key client) {
  int rc = ssh_userauth_publickey(s, nullptr, client);
  if (rc == SSH_AUTH_SUCCESS) return Status::Ok();
  std::string who = ep.user + "@" + ep.ip;
  if (rc == SSH_AUTH_ERROR) {
    return Unavailable("authenticating as " + who + ": " + ssh_get_error(s));
  }
  return FailedPrecondition("public key authentication as " + who +
                            " refused: the guest does not authorize the daemon's key");
}

// Sleeps `d` in short slices so `stop` is noticed promptly.
void SleepUnlessStopped(milliseconds d, const std::stop_token& stop) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!stop.stop_requested() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min(milliseconds(10), d));
  }
}

// SSH handshake, host key check and authentication on an already connected
// socket. `stop` shuts the socket down, which makes a pending handshake fail.
Result<std::unique_ptr<GuestConnection>> Handshake(UniqueFd sock, const GuestEndpoint& ep,
                                                   milliseconds timeout, std::stop_token stop) {
  ASSIGN_OR_RETURN(PublicKey expected, ParsePublicKey(ep.host_public_key));
  ASSIGN_OR_RETURN(KeyPtr client, ParsePrivateKey(ep.client_private_key));
  SessionPtr s(ssh_new());
  if (!s) return Internal("ssh_new failed");
  RETURN_IF_ERROR(
      SetOptions(s.get(), ep, HostKeyAlgorithms(expected.type_name), timeout, sock.get()));
  // libssh never closes a socket given with SSH_OPTIONS_FD: `sock` outlives `s`
  // (a parameter outlives the locals) and then moves into the connection.
  int fd = sock.get();
  std::stop_callback on_stop(stop, [fd] { ::shutdown(fd, SHUT_RDWR); });
  if (ssh_connect(s.get()) != SSH_OK) {
    if (stop.stop_requested()) return Cancelled("SSH handshake with " + ep.ip + " cancelled");
    return Unavailable("SSH handshake with " + ep.ip + ": " + ssh_get_error(s.get()));
  }
  RETURN_IF_ERROR(CheckHostKey(s.get(), ep, expected.key.get()));
  RETURN_IF_ERROR(Authenticate(s.get(), ep, client.get()));
  long secs = kOperationTimeoutSeconds, usecs = 0;
  if (ssh_options_set(s.get(), SSH_OPTIONS_TIMEOUT, &secs) != 0 ||
      ssh_options_set(s.get(), SSH_OPTIONS_TIMEOUT_USEC, &usecs) != 0) {
    return Internal("setting libssh timeout for " + ep.ip);
  }
  return std::unique_ptr<GuestConnection>(
      std::make_unique<LibsshConnection>(std::move(sock), std::move(s), ep.ip));
}

}  // namespace

LibsshDialer::LibsshDialer(SocketFactory sockets) : sockets_(std::move(sockets)) {
  static std::once_flag once;
  std::call_once(once, [] { CHECK(ssh_init() == SSH_OK); });
}

Result<std::unique_ptr<GuestConnection>> LibsshDialer::Dial(const GuestEndpoint& endpoint,
                                                            milliseconds timeout) {
  auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(UniqueFd sock, sockets_(endpoint.ip, endpoint.port, timeout));
  auto used = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
  return Handshake(std::move(sock), endpoint, std::max(timeout - used, milliseconds(1)),
                   std::stop_token());
}

Result<std::unique_ptr<GuestConnection>> LibsshDialer::WaitForSsh(
    const GuestEndpoint& endpoint, std::chrono::steady_clock::time_point deadline,
    std::stop_token stop) {
  std::string where = endpoint.ip + ":" + std::to_string(endpoint.port);
  std::string last = "no attempt made";
  for (;;) {
    if (stop.stop_requested()) return Cancelled("waiting for SSH on " + where + " cancelled");
    // Rounded up: truncating made it give up with under 1 ms still left,
    // i.e. before the deadline it promises to honour.
    auto left = std::chrono::ceil<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return DeadlineExceeded("SSH on " + where + " not ready by the deadline; last: " + last);
    }
    Result<UniqueFd> sock = sockets_(endpoint.ip, endpoint.port, std::min(left, kProbeTimeout));
    if (sock.ok()) {
      auto conn = Handshake(std::move(*sock), endpoint, left, stop);
      if (conn.ok() || conn.error().code() != Code::kUnavailable) return conn;
      last = conn.error().message();
    } else if (sock.error().code() != Code::kUnavailable) {
      return sock.error();
    } else {
      last = sock.error().message();
    }
    SleepUnlessStopped(kProbeInterval, stop);
  }
}

}  // namespace warren
