#include "session/guest_links.h"

#include <vector>

namespace warren {

GuestLinks::GuestLinks(GuestDialer* dialer, EndpointResolver resolve,
                       std::chrono::milliseconds dial_timeout)
    : dialer_(dialer), resolve_(std::move(resolve)), dial_timeout_(dial_timeout) {}

GuestLinks::~GuestLinks() {
  std::vector<std::shared_ptr<GuestLink>> links;
  {
    MutexLock lock(&mu_);
    for (auto& [vm, e] : links_) {
      if (e.link) links.push_back(std::move(e.link));
    }
    links_.clear();
  }
  for (auto& l : links) l->Close("the daemon is shutting down");
}

Result<std::shared_ptr<GuestLink>> GuestLinks::Get(const std::string& vm) {
  uint64_t generation = 0;
  std::shared_ptr<GuestLink> seen;
  {
    MutexLock lock(&mu_);
    Entry& e = links_[vm];
    seen = e.link;
    generation = e.generation;
  }
  // Asked outside mu_: the link's own lock is a leaf too.
  if (seen && seen->alive()) return seen;
  ASSIGN_OR_RETURN(GuestEndpoint ep, resolve_(vm));
  Result<std::unique_ptr<GuestConnection>> conn = dialer_->Dial(ep, dial_timeout_);
  if (!conn.ok()) {
    const Status& s = conn.error();
    if (s.code() == Code::kUnavailable) {
      return Unavailable("cannot reach the guest of VM " + vm + " over SSH (" + s.message() +
                         "); if it was just started, retry with --wait, otherwise see its "
                         "console log with `warren vm logs " + vm + "`");
    }
    return s.Annotate("connecting to the guest of VM " + vm);
  }
  auto fresh = std::make_shared<GuestLink>(vm, std::move(*conn));
  std::shared_ptr<GuestLink> loser;  // closed outside the lock
  std::shared_ptr<GuestLink> result;
  {
    MutexLock lock(&mu_);
    Entry& e = links_[vm];
    if (e.generation != generation) {
      loser = fresh;  // the VM went down while we dialed
    } else if (e.link != seen) {
      loser = fresh;  // another caller dialed first: share theirs
      result = e.link;
    } else {
      loser = std::move(e.link);
      e.link = result = fresh;
    }
  }
  if (loser) loser->Close("replaced by a newer connection");
  if (!result) return Unavailable("VM " + vm + " is going down");
  return result;
}

Result<std::shared_ptr<GuestProcess>> GuestLinks::Start(const std::string& vm,
                                                        const ExecSpec& spec) {
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(std::shared_ptr<GuestLink> link, Get(vm));
    Result<std::shared_ptr<GuestProcess>> proc = link->Start(spec);
    // A cached connection may have died quietly (the guest rebooted): redial once.
    if (proc.ok() || attempt > 0 || proc.error().code() != Code::kUnavailable || link->alive()) {
      return proc;
    }
  }
}

void GuestLinks::Drop(const std::string& vm, const std::string& reason) {
  std::shared_ptr<GuestLink> link;
  {
    MutexLock lock(&mu_);
    Entry& e = links_[vm];
    ++e.generation;
    link = std::move(e.link);
  }
  if (link) link->Close(reason);
}

size_t GuestLinks::SizeForTest() {
  MutexLock lock(&mu_);
  size_t n = 0;
  for (auto& [vm, e] : links_) n += e.link != nullptr;
  return n;
}

}  // namespace warren
