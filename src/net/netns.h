#pragma once

#include <sched.h>

#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#include "base/status.h"
#include "sys/unique_fd.h"

namespace warren {

// Where `ip netns` keeps its named namespaces. Using the same place means an
// operator can `ip netns exec warren-vms ...` into the daemon's namespace.
inline constexpr std::string_view kDefaultNetnsDir = "/run/netns";

// An open handle on a network namespace: an fd on its nsfs inode, which keeps
// the namespace alive while open even if its name is deleted.
//
// A named namespace is made the way `ip netns add` makes it: the directory is
// turned into a shared mount (so the bind mounts propagate to other mount
// namespaces and unmounting frees the namespace everywhere), then a thread
// that unshare(CLONE_NEWNET)s bind-mounts its own /proc/thread-self/ns/net on
// DIR/NAME. The daemon's threads never change namespace: entering one happens
// only in short-lived threads (RunInNetns) or in a dedicated thread.
//
// Move-only; immutable after construction, so const methods are thread-safe.
class NetnsHandle {
 public:
  // Creates DIR/NAME. AlreadyExists if the name is taken (use OpenOrCreate to adopt).
  static Result<NetnsHandle> Create(std::string_view dir, std::string_view name);
  // Opens an existing DIR/NAME. NotFound if there is none; FailedPrecondition if the
  // file is not a namespace mount (a stale leftover; OpenOrCreate replaces it).
  static Result<NetnsHandle> Open(std::string_view dir, std::string_view name);
  // What the daemon calls at start: adopts the namespace a previous run made
  // (its bridge and the TAPs of running VMs survive a daemon restart), or
  // creates it. A stale plain file at DIR/NAME is removed and replaced.
  static Result<NetnsHandle> OpenOrCreate(std::string_view dir, std::string_view name);
  // The namespace the calling thread is in now (`host` mode). name() is empty.
  static Result<NetnsHandle> Current();
  // Unmounts and removes DIR/NAME. The namespace itself dies once no fd, process or
  // socket holds it. NotFound if absent.
  static Status Delete(std::string_view dir, std::string_view name);

  NetnsHandle(NetnsHandle&&) = default;
  NetnsHandle& operator=(NetnsHandle&&) = default;

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }
  // For log lines: `netns "warren-vms"` or `the daemon's namespace`.
  std::string Describe() const;

 private:
  NetnsHandle(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}

  UniqueFd fd_;
  std::string name_;
};

// Runs `fn` on a new thread that first setns()es into `netns_fd`, waits for it and
// returns what `fn` returned. `fn` must return Status or Result<T>; a failed
// setns is returned as that type. Sockets and TAP fds opened by `fn` stay bound
// to that namespace after the thread ends, which is how the daemon gets
// guest-facing sockets without ever moving its own threads. Blocks the caller
// for `fn`'s duration; `fn` must not take locks that the caller holds.
template <typename F>
auto RunInNetns(int netns_fd, F&& fn) -> std::invoke_result_t<F> {
  using R = std::invoke_result_t<F>;
  std::optional<R> out;
  std::thread worker([&] {
    if (::setns(netns_fd, CLONE_NEWNET) != 0) {
      out.emplace(ErrnoError("setns into the VM network namespace", errno));
      return;
    }
    out.emplace(fn());
  });
  worker.join();
  return std::move(*out);
}

// socket(2) inside `ns`; the socket stays in `ns` (e.g. the DNS server's UDP socket
// on the bridge address). Returned with SOCK_CLOEXEC.
Result<UniqueFd> OpenSocketIn(const NetnsHandle& ns, int domain, int type, int protocol);

}  // namespace warren
