// vm.proxy and vm.known_hosts: SSH with the user's own tools. `warren proxy`
// relays a guest TCP port over its stream; `warren ssh-config` / `warren ssh`
// use it as ssh's ProxyCommand, so that ssh, scp and rsync reach guests even
// in isolated mode, where the host has no route to them.
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <stop_token>
#include <string>

#include "base/mutex.h"
#include "base/thread_annotations.h"
#include "caps/ssh_key.h"
#include "rpc/frame.h"
#include "rpc/services.h"
#include "rpc/stream_control.h"
#include "session/guest_links.h"
#include "session/session_registry.h"
#include "vm/vm_manager.h"

namespace warren::rpc {
namespace {

using json = nlohmann::json;

constexpr std::chrono::milliseconds kConnectTimeout{10000};
constexpr std::chrono::seconds kAuthorizeTimeout{60};

struct ProxyParams {
  std::string vm;
  int port = 0;
  uint32_t stream = 1;
  std::string authorize_key;
  static constexpr auto kParams = std::to_array<ParamSpec>({
      Str("vm", kRequired, "the VM to reach"),
      Int("port", kRequired, "the guest's TCP port", 1, 65535),
      Int("stream", kOptional, "the stream id the bytes travel on (default 1)", 1, UINT32_MAX),
      Str("authorize_key", kOptional,
          "an OpenSSH public key line to authorize for root in the guest first", 16 << 10),
  });
  static Result<ProxyParams> FromJson(const json& p) {
    ProxyParams r;
    ASSIGN_OR_RETURN(r.vm, RequiredString(p, "vm"));
    RETURN_IF_ERROR(ValidateVmName(r.vm));
    ASSIGN_OR_RETURN(int64_t port, RequiredInt(p, "port"));
    r.port = static_cast<int>(port);
    ASSIGN_OR_RETURN(int64_t stream, OptionalInt(p, "stream", 1));
    r.stream = static_cast<uint32_t>(stream);
    ASSIGN_OR_RETURN(r.authorize_key, OptionalString(p, "authorize_key"));
    return r;
  }
};

// Inbound stream frames of one proxy call: the connection's reader thread
// queues them (it must not block on the guest), the call's thread drains them
// into the guest socket. The client's ack window bounds the queue.
class ProxyInput {
 public:
  ProxyInput() : wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~ProxyInput() { ::close(wake_); }
  ProxyInput(const ProxyInput&) = delete;
  ProxyInput& operator=(const ProxyInput&) = delete;

  bool ok() const { return wake_ >= 0; }
  int wake_fd() const { return wake_; }

  // The connection's sink.
  void OnFrame(uint8_t channel, std::string_view bytes) EXCLUDES(mu_) {
    {
      MutexLock lock(&mu_);
      if (channel == kChannelStdin) {
        if (queued_.size() + bytes.size() > 2 * kStdinWindowBytes) return;  // ignores acks
        queued_.append(bytes);
      } else if (channel == kChannelControl) {
        Result<StreamControl> c = StreamControl::Parse(bytes);
        if (!c.ok() || !c->eof) return;
        eof_ = true;
      } else {
        return;
      }
    }
    Wake();
  }
  void Wake() {
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_, &one, sizeof(one));
    (void)ignored;
  }
  // Appends what arrived to *out; true once the client's input has ended.
  bool Take(std::string* out) EXCLUDES(mu_) {
    uint64_t drained;
    while (::read(wake_, &drained, sizeof(drained)) > 0) {
    }
    MutexLock lock(&mu_);
    out->append(queued_);
    queued_.clear();
    return eof_;
  }

 private:
  const int wake_;
  Mutex mu_{LockRank::kLeaf, "proxy input"};
  std::string queued_ GUARDED_BY(mu_);
  bool eof_ GUARDED_BY(mu_) = false;
};

// Runs `argv` to its end on the VM through the pooled guest links.
Status RunInGuest(SessionRegistry* sessions, const std::string& vm,
                  std::vector<std::string> argv, std::stop_token stop) {
  ExecSpec spec;
  spec.argv = std::move(argv);
  ASSIGN_OR_RETURN(std::shared_ptr<GuestProcess> proc, sessions->links().Start(vm, spec));
  proc->CloseStdin();
  std::string err;
  const auto deadline = std::chrono::steady_clock::now() + kAuthorizeTimeout;
  while (true) {
    ProcessUpdate u = proc->Next(stop);
    err += u.err;
    if (u.ended) {
      if (!u.error.ok()) return u.error;
      if (u.exit_code != 0) {
        return Internal("the guest could not update /root/.ssh/authorized_keys: " +
                        err.substr(0, 200));
      }
      return Status::Ok();
    }
    if (stop.stop_requested() || std::chrono::steady_clock::now() > deadline) {
      proc->Terminate();
      return Cancelled("authorizing the key on VM " + vm + " was cancelled");
    }
  }
}

// The caller's own key for root in the guest, after SO_PEERCRED told who asks.
Status AuthorizeKey(const Services& s, const ProxyParams& r, const CallContext& ctx) {
  if (ctx.peer.uid == static_cast<uid_t>(-1)) {
    return FailedPrecondition(
        "authorize_key needs a caller the daemon can identify (the unix socket); this "
        "connection has no peer credentials");
  }
  ASSIGN_OR_RETURN(std::string line, ParseAuthorizedKeyLine(r.authorize_key));
  RETURN_IF_ERROR(RunInGuest(s.sessions, r.vm, AuthorizeKeyArgv(line), ctx.stop));
  spdlog::info("ssh: key {} authorized for root on VM {}, asked by uid {} (pid {})",
               KeyFingerprint(line), r.vm, ctx.peer.uid, ctx.peer.pid);
  return Status::Ok();
}

// Writes what the guest socket takes now; false when it is gone.
bool FlushToGuest(int fd, std::string& pending, uint64_t* written) {
  while (!pending.empty()) {
    ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    pending.erase(0, static_cast<size_t>(n));
    *written += static_cast<uint64_t>(n);
  }
  return true;
}

// Relays between the guest socket and the call's stream until the guest
// closes its side, the guest socket breaks, or the client goes away.
Result<json> Relay(const ProxyParams& r, int sock, ProxyInput& input, CallContext& ctx) {
  std::stop_callback wake_on_stop(ctx.stop, [&input] { input.Wake(); });
  std::string pending;
  uint64_t written = 0, acked = 0, received = 0;
  bool input_ended = false, shut = false;
  char buf[64 * 1024];
  while (!ctx.stop.stop_requested()) {
    input_ended = input.Take(&pending) || input_ended;
    if (!FlushToGuest(sock, pending, &written)) {
      return Unavailable("the connection to VM " + r.vm + " port " + std::to_string(r.port) +
                         " broke");
    }
    if (written != acked) {
      acked = written;
      RETURN_IF_ERROR(ctx.send_stream(r.stream, kChannelControl, ControlAck(acked)));
    }
    if (input_ended && pending.empty() && !shut) {
      ::shutdown(sock, SHUT_WR);  // the client's EOF, passed on
      shut = true;
    }
    short want = static_cast<short>(POLLIN | (pending.empty() ? 0 : POLLOUT));
    pollfd fds[2] = {{sock, want, 0}, {input.wake_fd(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return ErrnoError("poll", errno);
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    ssize_t n = ::recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return json{{"bytes_in", written}, {"bytes_out", received}};
    received += static_cast<uint64_t>(n);
    RETURN_IF_ERROR(ctx.send_stream(r.stream, kChannelStdout,
                                    std::string_view(buf, static_cast<size_t>(n))));
  }
  return Cancelled("proxy to VM " + r.vm + " ended by the client");
}

Result<json> Proxy(const Services& s, const ProxyParams& r, CallContext& ctx) {
  auto input = std::make_shared<ProxyInput>();
  if (!input->ok()) return ErrnoError("eventfd", errno);
  // Registered before anything slow: a client may send at once after ready.
  ctx.on_stream(r.stream,
                [input](uint8_t channel, std::string_view bytes) { input->OnFrame(channel, bytes); });
  ASSIGN_OR_RETURN(GuestTarget target, s.vms->SshTarget(r.vm));
  if (!r.authorize_key.empty()) RETURN_IF_ERROR(AuthorizeKey(s, r, ctx));
  ASSIGN_OR_RETURN(UniqueFd sock, s.guest_sockets(target.ip, r.port, kConnectTimeout));
  RETURN_IF_ERROR(ctx.send_stream(r.stream, kChannelControl, ControlReady()));
  return Relay(r, sock.get(), *input, ctx);
}

// {hosts: [{vm, host_key}]}: the pinned host key of every running VM.
Result<json> KnownHosts(const Services& s) {
  ASSIGN_OR_RETURN(std::vector<VmRecord> vms, s.vms->List());
  json hosts = json::array();
  for (const VmRecord& vm : vms) {
    Result<GuestTarget> t = s.vms->SshTarget(vm.name);
    if (t.ok()) hosts.push_back({{"vm", vm.name}, {"host_key", t->host_key_public}});
  }
  return json{{"hosts", hosts}, {"domain", s.network.dns_domain}};
}

}  // namespace

std::vector<MethodRow> SshMethods(const Services& s) {
  return {
      Method<ProxyParams>(
          "vm.proxy", Mutation::kMutating,
          {.summary = "Relays a guest TCP port over the call's stream (ssh's ProxyCommand); "
                      "with authorize_key, first authorizes the caller's key for root.",
           .result = "{bytes_in, bytes_out} once the guest closes the connection",
           .errors = {{Code::kNotFound, "no such VM"},
                      {Code::kFailedPrecondition, "the VM is not running"},
                      {Code::kUnavailable, "the guest port refused or did not answer"},
                      {Code::kInvalidArgument, "authorize_key is not an OpenSSH public key"},
                      {Code::kCancelled, "the client went away"}},
           .notifications = "stream frames on the given stream id; control {ready} once "
                            "connected, {ack} as input reaches the guest"},
          [s](const ProxyParams& r, CallContext& ctx) { return Proxy(s, r, ctx); }),
      Method<NoParams>("vm.known_hosts", Mutation::kReadOnly,
                       {.summary = "Lists the pinned SSH host key of every running VM.",
                        .result = "{hosts: [{vm, host_key}], domain}",
                        .errors = {}},
                       [s](const NoParams&, CallContext&) { return KnownHosts(s); }),
  };
}

}  // namespace warren::rpc
