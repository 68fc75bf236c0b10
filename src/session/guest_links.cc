#include "session/guest_links.h"

#include <algorithm>
#include <utility>

namespace warren {
namespace {

// How often the filler looks at the pools when nothing wakes it (dead idle
// links, idle_ttl), and how long it waits after a background dial failed.
constexpr std::chrono::milliseconds kFillerTick{1000};
constexpr std::chrono::milliseconds kDialRetry{2000};
// A command that finds its link broken before it started tries this often.
constexpr int kStartAttempts = 3;

Status DialError(const std::string& vm, const Status& s) {
  if (s.code() == Code::kUnavailable) {
    return Unavailable("cannot reach the guest of VM " + vm + " over SSH (" + s.message() +
                       "); if it was just started, retry with --wait, otherwise see its "
                       "console log with `warren vm logs " +
                       vm + "`");
  }
  return s.Annotate("connecting to the guest of VM " + vm);
}

}  // namespace

GuestLinks::GuestLinks(GuestDialer* dialer, EndpointResolver resolve, PoolOptions options)
    : dialer_(dialer), resolve_(std::move(resolve)), options_(std::move(options)) {
  filler_ = std::thread([this] { FillerLoop(); });
}

GuestLinks::~GuestLinks() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  filler_.join();
  std::vector<std::shared_ptr<GuestLink>> links;
  {
    MutexLock lock(&mu_);
    for (auto& [vm, p] : pools_) {
      for (Idle& i : p.idle) links.push_back(std::move(i.link));
      links.insert(links.end(), p.busy.begin(), p.busy.end());
    }
    pools_.clear();
    links.insert(links.end(), retired_.begin(), retired_.end());
    retired_.clear();
  }
  // A pump ending now calls OnIdle, which finds nothing and lets go.
  for (auto& l : links) l->Close("the daemon is shutting down");
}

Result<GuestLinks::Slot> GuestLinks::TakeOrReserveDial(const std::string& vm) {
  auto deadline = Clock::now() + options_.wait_for_link;
  MutexLock lock(&mu_);
  Pool& p = pools_[vm];
  while (true) {
    if (stopping_) return Unavailable("the daemon is shutting down");
    if (!p.idle.empty()) {
      std::shared_ptr<GuestLink> link = std::move(p.idle.back().link);
      p.idle.pop_back();
      p.busy.push_back(link);
      p.in_use = true;
      p.last_start = Clock::now();
      cv_.SignalAll();  // the filler may top the pool up
      return Slot{std::move(link), p.generation};
    }
    if (p.dialing < options_.max_dials_per_vm) {
      ++p.dialing;
      return Slot{nullptr, p.generation};
    }
    // Every dial slot is taken: the first link to come back or be made is ours.
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return Unavailable("no SSH connection to VM " + vm + " became free in time; retry");
    }
    cv_.WaitFor(&mu_, std::min(left, kFillerTick));
  }
}

Result<std::shared_ptr<GuestLink>> GuestLinks::Dial(const std::string& vm, uint64_t generation,
                                                    bool busy) {
  Result<GuestEndpoint> ep = resolve_(vm);
  Result<std::unique_ptr<GuestConnection>> conn =
      ep.ok() ? dialer_->Dial(*ep, options_.dial_timeout)
              : Result<std::unique_ptr<GuestConnection>>(ep.error());
  std::shared_ptr<GuestLink> link;
  if (conn.ok()) {
    LinkOptions lo = options_.link;
    lo.on_idle = [this, vm](GuestLink* l, bool reusable) { OnIdle(vm, l, reusable); };
    link = std::make_shared<GuestLink>(vm, std::move(*conn), std::move(lo));
  }
  bool stale = false;
  {
    MutexLock lock(&mu_);
    Pool& p = pools_[vm];
    --p.dialing;
    cv_.SignalAll();
    if (link) {
      stale = p.generation != generation || stopping_;
      if (!stale && busy) {
        p.busy.push_back(link);
        // Kept ready only once the guest was reached: a stopped or unreachable
        // VM is not redialed in the background. Set here, before the command
        // starts, so a link that comes back at once is not taken for unused.
        p.in_use = true;
        p.last_start = Clock::now();
      }
      if (!stale && !busy) p.idle.push_back(Idle{link, Clock::now()});
    }
  }
  if (!ep.ok()) return ep.error();
  if (!conn.ok()) return DialError(vm, conn.error());
  if (stale) {
    link->Close("VM " + vm + " is going down");
    return Unavailable("VM " + vm + " is going down");
  }
  return link;
}

Result<std::shared_ptr<GuestProcess>> GuestLinks::Start(const std::string& vm,
                                                        const ExecSpec& spec) {
  Status last;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    ASSIGN_OR_RETURN(Slot slot, TakeOrReserveDial(vm));
    std::shared_ptr<GuestLink> link = std::move(slot.link);
    if (!link) {
      ASSIGN_OR_RETURN(link, Dial(vm, slot.generation, /*busy=*/true));
    }
    Result<std::shared_ptr<GuestProcess>> proc = link->Start(spec);
    if (proc.ok()) return proc;
    Retire(link);
    // An idle link may have died quietly (the guest's sshd went away) just
    // before it was taken; nothing ran on it, so another link may try.
    if (proc.error().code() != Code::kUnavailable || link->alive()) return proc.error();
    last = proc.error();
  }
  return last;
}

bool GuestLinks::RemoveLocked(Pool& pool, GuestLink* link, std::shared_ptr<GuestLink>* out) {
  auto same = [link](const std::shared_ptr<GuestLink>& l) { return l.get() == link; };
  if (auto it = std::find_if(pool.busy.begin(), pool.busy.end(), same); it != pool.busy.end()) {
    *out = std::move(*it);
    pool.busy.erase(it);
    return true;
  }
  auto idle_same = [link](const Idle& i) { return i.link.get() == link; };
  if (auto it = std::find_if(pool.idle.begin(), pool.idle.end(), idle_same);
      it != pool.idle.end()) {
    *out = std::move(it->link);
    pool.idle.erase(it);
    return true;
  }
  return false;
}

void GuestLinks::OnIdle(const std::string& vm, GuestLink* link, bool reusable) {
  MutexLock lock(&mu_);
  auto it = pools_.find(vm);
  std::shared_ptr<GuestLink> l;
  if (it == pools_.end() || !RemoveLocked(it->second, link, &l)) return;  // dropped already
  Pool& p = it->second;
  if (reusable && !stopping_ && options_.idle_per_vm > 0) {
    p.idle.push_back(Idle{std::move(l), Clock::now()});  // the filler trims the surplus
  } else {
    retired_.push_back(std::move(l));  // never the last owner here: the pump cannot join itself
  }
  cv_.SignalAll();
}

void GuestLinks::Retire(const std::shared_ptr<GuestLink>& link) {
  MutexLock lock(&mu_);
  auto it = pools_.find(link->vm());
  std::shared_ptr<GuestLink> l;
  if (it == pools_.end() || !RemoveLocked(it->second, link.get(), &l)) return;
  retired_.push_back(std::move(l));
  cv_.SignalAll();
}

void GuestLinks::FillerLoop() {
  while (true) {
    std::vector<std::shared_ptr<GuestLink>> to_close, to_check;
    std::vector<std::pair<std::string, uint64_t>> dials;
    {
      MutexLock lock(&mu_);
      if (retired_.empty() && !stopping_) cv_.WaitFor(&mu_, kFillerTick);
      if (stopping_) return;
      to_close.swap(retired_);
      auto now = Clock::now();
      for (auto& [vm, p] : pools_) {
        if (p.in_use && now - p.last_start > options_.idle_ttl) p.in_use = false;
        // The oldest idle links are at the front: the surplus of a burst
        // goes once it has lingered; all of them when the VM is not in use.
        while (!p.idle.empty() &&
               (!p.in_use || (p.idle.size() > options_.idle_per_vm &&
                              now - p.idle.front().since > options_.surplus_linger))) {
          to_close.push_back(std::move(p.idle.front().link));
          p.idle.pop_front();
        }
        if (!p.in_use) continue;
        for (Idle& i : p.idle) to_check.push_back(i.link);
        // Busy links count: most come back when their command ends, so a
        // sequence of execs reuses two links instead of dialing per command.
        while (p.idle.size() + p.busy.size() + p.dialing < options_.idle_per_vm &&
               p.dialing < options_.max_dials_per_vm && now >= p.retry_after) {
          ++p.dialing;
          dials.emplace_back(vm, p.generation);
        }
      }
    }
    for (auto& l : to_close) l->Close("idle connection closed");
    to_close.clear();  // joined above; destroyed outside the lock
    for (auto& l : to_check) {
      if (!l->alive()) Retire(l);
    }
    to_check.clear();
    for (auto& [vm, generation] : dials) {
      if (Dial(vm, generation, /*busy=*/false).ok()) continue;
      MutexLock lock(&mu_);
      pools_[vm].retry_after = Clock::now() + kDialRetry;
    }
  }
}

void GuestLinks::Drop(const std::string& vm, const std::string& reason) {
  std::vector<std::shared_ptr<GuestLink>> links;
  {
    MutexLock lock(&mu_);
    Pool& p = pools_[vm];
    ++p.generation;
    p.in_use = false;
    for (Idle& i : p.idle) links.push_back(std::move(i.link));
    links.insert(links.end(), p.busy.begin(), p.busy.end());
    p.idle.clear();
    p.busy.clear();
    cv_.SignalAll();
  }
  for (auto& l : links) l->Close(reason);
}

size_t GuestLinks::IdleForTest(const std::string& vm) {
  MutexLock lock(&mu_);
  auto it = pools_.find(vm);
  return it == pools_.end() ? 0 : it->second.idle.size();
}

size_t GuestLinks::BusyForTest(const std::string& vm) {
  MutexLock lock(&mu_);
  auto it = pools_.find(vm);
  return it == pools_.end() ? 0 : it->second.busy.size();
}

}  // namespace warren
