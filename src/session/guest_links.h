#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "session/guest_link.h"
#include "session/guest_ssh.h"

namespace warren {

// Where VM `vm`'s guest answers SSH, with the keys to use. The daemon's reads
// VmManager::SshTarget (FailedPrecondition "not running", Unavailable "still
// booting", NotFound) and adds its own client key.
using EndpointResolver = std::function<Result<GuestEndpoint>(const std::string& vm)>;

// One GuestLink per VM, reused by every exec and session on that guest. A
// link that broke is replaced by a fresh dial on the next use; Drop (the VM
// is going down) ends the link and everything running on it.
//
// Thread-safety: thread-safe. mu_ is a leaf guarding the map; dialing and
// closing links happen outside it.
class GuestLinks {
 public:
  GuestLinks(GuestDialer* dialer, EndpointResolver resolve,
             std::chrono::milliseconds dial_timeout = std::chrono::seconds(10));
  ~GuestLinks();  // closes every link
  GuestLinks(const GuestLinks&) = delete;
  GuestLinks& operator=(const GuestLinks&) = delete;

  // A live link to vm's guest, dialing when there is none. Errors: the
  // resolver's, and Unavailable "cannot reach the guest ..." when the dial
  // fails (FailedPrecondition for a host key mismatch or refused key).
  Result<std::shared_ptr<GuestLink>> Get(const std::string& vm) EXCLUDES(mu_);
  // Starts spec on vm's guest. A cached link found broken is replaced once.
  Result<std::shared_ptr<GuestProcess>> Start(const std::string& vm, const ExecSpec& spec)
      EXCLUDES(mu_);
  // Ends vm's link (its processes end with Unavailable naming `reason`) and
  // makes a dial racing with this call discard its result.
  void Drop(const std::string& vm, const std::string& reason) EXCLUDES(mu_);
  size_t SizeForTest() EXCLUDES(mu_);

 private:
  struct Entry {
    std::shared_ptr<GuestLink> link;
    uint64_t generation = 0;  // bumped by Drop
  };

  // Immutable after construction.
  GuestDialer* const dialer_;
  const EndpointResolver resolve_;
  const std::chrono::milliseconds dial_timeout_;

  Mutex mu_{LockRank::kLeaf, "guest links"};
  std::map<std::string, Entry, std::less<>> links_ GUARDED_BY(mu_);
};

}  // namespace warren
