#include "vm/guest_agent.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "image/digest.h"
#include "sys/line_channel.h"

namespace warren {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A reply longer than this is not the agent talking; stop reading.
constexpr size_t kMaxReplyLine = 4096;
constexpr std::string_view kHostKeyHeader = "-----BEGIN OPENSSH PRIVATE KEY-----";

bool AllOf(std::string_view s, bool (*pred)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), pred);
}
bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool IsHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
}

// Dotted-quad IPv4: four decimal octets 0..255.
bool IsIpv4(std::string_view s) {
  int parts = 0;
  while (true) {
    size_t dot = s.find('.');
    std::string_view octet = s.substr(0, dot);
    unsigned v = 256;
    auto [end, ec] = std::from_chars(octet.data(), octet.data() + octet.size(), v);
    if (octet.empty() || octet.size() > 3 || ec != std::errc() ||
        end != octet.data() + octet.size() || v > 255) {
      return false;
    }
    ++parts;
    if (dot == std::string_view::npos) return parts == 4;
    s.remove_prefix(dot + 1);
  }
}

bool IsCidr(std::string_view s) {
  size_t slash = s.find('/');
  if (slash == std::string_view::npos || !IsIpv4(s.substr(0, slash))) return false;
  std::string_view len = s.substr(slash + 1);
  unsigned v = 33;
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), v);
  return !len.empty() && ec == std::errc() && end == len.data() + len.size() && v <= 32;
}

Status CheckIdentity(const GuestIdentity& id) {
  if (!IsCidr(id.ip_cidr)) {
    return InvalidArgument("guest identity: address \"" + id.ip_cidr +
                           "\" must be an IPv4 CIDR like 10.0.0.7/24");
  }
  if (!id.gateway.empty() && !IsIpv4(id.gateway)) {
    return InvalidArgument("guest identity: gateway \"" + id.gateway +
                           "\" must be an IPv4 address or empty");
  }
  if (!id.dns.empty() && !IsIpv4(id.dns)) {
    return InvalidArgument("guest identity: DNS \"" + id.dns +
                           "\" must be an IPv4 address or empty");
  }
  if (id.hostname.size() > 63 || !AllOf(id.hostname, IsHostChar)) {
    return InvalidArgument("guest identity: hostname \"" + id.hostname +
                           "\" must be 1-63 letters, digits, '-' or '.'");
  }
  const size_t seed = id.random_seed_hex.size();
  if (seed < 32 || seed > 512 || seed % 2 != 0 || !AllOf(id.random_seed_hex, IsHex)) {
    return InvalidArgument(
        "guest identity: the random seed must be 32-512 hex digits (an even count)");
  }
  // The key itself never appears in a message.
  if (id.host_key_private_openssh.rfind(kHostKeyHeader, 0) != 0) {
    return InvalidArgument("guest identity: the host key must be an OpenSSH private key (" +
                           std::string(kHostKeyHeader) + "...)");
  }
  if ((id.mac[0] & 1) != 0) {
    return InvalidArgument("guest identity: MAC " + FormatMac(id.mac) + " must be unicast");
  }
  return Status::Ok();
}

bool IsEchoedRequest(std::string_view line) {
  for (std::string_view verb : {"ping ", "clock ", "reidentify "}) {
    if (line.substr(0, verb.size()) == verb) return true;
  }
  return false;
}

// The protocol over one connected stream socket.
class FdGuestAgent final : public GuestAgent {
 public:
  explicit FdGuestAgent(UniqueFd fd)
      : channel_(std::move(fd), kMaxReplyLine, "agent socket",
                 "QEMU closed the agent socket (is the VM running?)") {}

  Status Ping(std::chrono::milliseconds timeout) override {
    const uint64_t id = next_id_++;
    return Call("ping", id, "ping " + std::to_string(id), timeout);
  }

  Status SetClock(int64_t unix_time_ns, std::chrono::milliseconds timeout) override {
    ASSIGN_OR_RETURN(std::string when, FormatAgentTime(unix_time_ns));
    const uint64_t id = next_id_++;
    return Call("clock", id, "clock " + std::to_string(id) + " " + when, timeout);
  }

  Status Reidentify(const GuestIdentity& identity, std::chrono::milliseconds timeout) override {
    const uint64_t id = next_id_++;
    ASSIGN_OR_RETURN(std::string line, FormatReidentify(id, identity));
    return Call("reidentify", id, line, timeout);
  }

 private:
  // Sends `line` and waits for the reply carrying `id`. `verb` names the
  // request in errors; the line itself (it may hold the host key) never does.
  Status Call(std::string_view verb, uint64_t id, const std::string& line,
              std::chrono::milliseconds timeout) {
    const std::string what = "guest agent " + std::string(verb);
    const auto deadline = SteadyClock::now() + timeout;
    RETURN_IF_ERROR(channel_.Write(line + "\n", deadline).Annotate(what));
    while (true) {
      Result<std::string> reply = channel_.ReadLine(deadline);
      if (!reply.ok()) {
        if (reply.error().code() != Code::kDeadlineExceeded) return reply.error().Annotate(what);
        return DeadlineExceeded(
            what + ": no answer within " + std::to_string(timeout.count()) +
            " ms; the guest may not run warren's agent (images built by warren have it; a "
            "registered stock image needs the unit in docs/SNAPSHOTS.md)");
      }
      // A request echoed back: the guest's tty still echoes (the agent has
      // not yet put its console in raw mode, e.g. a guest snapshotted while
      // its agent was starting). Noise, not an answer.
      if (IsEchoedRequest(*reply)) continue;
      Result<AgentReply> parsed = ParseAgentReply(*reply);
      if (!parsed.ok()) return Internal(what + ": " + parsed.error().message());
      if (parsed->id != id) continue;  // a late reply to an earlier request
      if (parsed->ok) return Status::Ok();
      return FailedPrecondition(what + " failed in the guest: " + parsed->text);
    }
  }

  LineChannel channel_;
  uint64_t next_id_ = 1;
};

}  // namespace

Result<std::string> FormatAgentTime(int64_t unix_time_ns) {
  if (unix_time_ns <= 0) {
    return InvalidArgument("guest clock: time " + std::to_string(unix_time_ns) +
                           " ns must be after the epoch");
  }
  std::string frac = std::to_string(unix_time_ns % 1000000000);
  return std::to_string(unix_time_ns / 1000000000) + "." + std::string(9 - frac.size(), '0') +
         frac;
}

// Every byte as `\ooo`: a printf format (POSIX sh) that writes the bytes.
std::string OctalEscaped(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 4);
  for (unsigned char c : bytes) {
    out += '\\';
    out += static_cast<char>('0' + (c >> 6));
    out += static_cast<char>('0' + ((c >> 3) & 7));
    out += static_cast<char>('0' + (c & 7));
  }
  return out;
}

Result<std::string> FormatReidentify(uint64_t id, const GuestIdentity& identity) {
  RETURN_IF_ERROR(CheckIdentity(identity));
  ASSIGN_OR_RETURN(std::string when, FormatAgentTime(identity.unix_time_ns));
  auto or_dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  return "reidentify " + std::to_string(id) + " " + FormatMac(identity.mac) + " " +
         identity.ip_cidr + " " + or_dash(identity.gateway) + " " + identity.hostname + " " +
         or_dash(identity.dns) + " " + when + " " + identity.random_seed_hex + " " +
         Base64Encode(identity.host_key_private_openssh) +
         (identity.host_key_dropbear.empty() ? "" : " " + OctalEscaped(identity.host_key_dropbear));
}

Result<AgentReply> ParseAgentReply(std::string_view line) {
  AgentReply reply;
  if (line.rfind("ok ", 0) == 0) {
    reply.ok = true;
    line.remove_prefix(3);
  } else if (line.rfind("err ", 0) == 0) {
    line.remove_prefix(4);
  } else {
    return InvalidArgument("agent reply must start with \"ok ID\" or \"err ID\", got \"" +
                           std::string(line.substr(0, 80)) + "\"");
  }
  size_t space = line.find(' ');
  std::string_view id = line.substr(0, space);
  auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), reply.id);
  if (id.empty() || ec != std::errc() || end != id.data() + id.size()) {
    return InvalidArgument("agent reply has no decimal request ID: \"" +
                           std::string(line.substr(0, 80)) + "\"");
  }
  if (space != std::string_view::npos) reply.text = std::string(line.substr(space + 1));
  return reply;
}

std::unique_ptr<GuestAgent> GuestAgentOverFd(UniqueFd fd) {
  return std::make_unique<FdGuestAgent>(std::move(fd));
}

Result<std::unique_ptr<GuestAgent>> ConnectGuestAgent(const std::filesystem::path& socket) {
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (socket.string().size() >= sizeof(addr.sun_path)) {
    return InvalidArgument("agent socket path " + socket.string() +
                           " is too long for a unix socket (107 bytes)");
  }
  std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoError("socket for the guest agent", errno);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ECONNREFUSED) {
      return Unavailable("no guest agent socket listening at " + socket.string() + " (" +
                         std::strerror(err) +
                         "): is the VM running? A VM started before warren gave VMs an agent "
                         "port needs a restart");
    }
    return ErrnoError("connect to the guest agent socket " + socket.string(), err);
  }
  return GuestAgentOverFd(std::move(fd));
}

}  // namespace warren
