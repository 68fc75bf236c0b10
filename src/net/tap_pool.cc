#include "net/tap_pool.h"

#include <fcntl.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <utility>

namespace warren {

Result<std::unique_ptr<TapPool>> TapPool::Create(const NetnsHandle& ns, TapPoolOptions options) {
  if (options.bridge.empty()) return InvalidArgument("TAP pool needs a bridge name");
  if (options.prefix.empty() || options.prefix.size() > 8) {
    return InvalidArgument("TAP prefix \"" + options.prefix + "\" must be 1-8 characters");
  }
  int fd = ::fcntl(ns.fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("duplicate the network namespace fd", errno);
  return std::unique_ptr<TapPool>(new TapPool(UniqueFd(fd), std::move(options)));
}

TapPool::TapPool(UniqueFd netns_fd, TapPoolOptions options)
    : netns_fd_(std::move(netns_fd)), options_(std::move(options)) {}

TapPool::~TapPool() { Shutdown(); }

Status TapPool::Start() {
  ASSIGN_OR_RETURN(std::vector<std::string> existing, ListTaps());
  uint64_t next = 0;
  for (const std::string& name : existing) {
    uint64_t index = std::stoull(name.substr(options_.prefix.size()));
    next = std::max(next, index + 1);
  }
  {
    MutexLock lock(&mu_);
    if (started_ || stopping_) return FailedPrecondition("TAP pool was already started");
    started_ = true;
    next_index_ = next;
  }
  refill_ = std::thread([this] { RefillLoop(); });
  return Status::Ok();
}

std::string TapPool::NextNameLocked() { return options_.prefix + std::to_string(next_index_++); }


void TapPool::RefillLoop() {
  // This thread is dedicated to the pool, so it may live in the VM namespace.
  std::optional<Netlink> nl;
  Status ready = ::setns(netns_fd_.get(), CLONE_NEWNET) == 0
                     ? Status::Ok()
                     : ErrnoError("refill thread setns into the VM namespace", errno);
  if (ready.ok()) {
    Result<Netlink> opened = Netlink::OpenHere();
    if (opened.ok()) {
      nl.emplace(std::move(*opened));
    } else {
      ready = opened.error();
    }
  }
  if (!ready.ok()) {
    spdlog::error("TAP pool refill disabled: {}", ready.ToString());
    MutexLock lock(&mu_);
    stats_.refill_errors++;
    stats_.last_refill_error = ready.ToString();
    return;
  }

  for (;;) {
    std::string name;
    {
      MutexLock lock(&mu_);
      while (!stopping_ && ready_.size() >= options_.target_size)
        refill_cv_.Wait(&mu_);
      if (stopping_) return;
      name = NextNameLocked();
    }
    Result<Tap> tap = CreateTapHere(*nl, name, options_.bridge);
    if (tap.ok()) {
      MutexLock lock(&mu_);
      ready_.push_back(std::move(*tap));
      stats_.created++;
      filled_cv_.SignalAll();
      continue;
    }
    spdlog::warn("TAP pool refill: {}", tap.error().ToString());
    MutexLock lock(&mu_);
    stats_.refill_errors++;
    stats_.last_refill_error = tap.error().ToString();
    if (!stopping_) refill_cv_.WaitFor(&mu_, options_.retry_delay);
  }
}

Result<Tap> TapPool::CreateCold(const std::string& name) {
  return RunInNetns(netns_fd_.get(), [&]() -> Result<Tap> {
    ASSIGN_OR_RETURN(Netlink nl, Netlink::OpenHere());
    return CreateTapHere(nl, name, options_.bridge);
  });
}

Result<Tap> TapPool::Take(const MacAddress& guest_mac) {
  std::optional<Tap> tap;
  std::string cold_name;
  {
    MutexLock lock(&mu_);
    if (stopping_) return FailedPrecondition("TAP pool is shut down");
    if (!ready_.empty()) {
      tap.emplace(std::move(ready_.front()));
      ready_.pop_front();
      stats_.warm_takes++;
    } else {
      cold_name = NextNameLocked();
      stats_.cold_takes++;
    }
    refill_cv_.Signal();
  }
  if (!tap) {
    ASSIGN_OR_RETURN(Tap created, CreateCold(cold_name));
    tap.emplace(std::move(created));
  }
  Status mac_set = SetTapMac(tap->fd.get(), TapMacFor(guest_mac));
  if (!mac_set.ok()) {
    Status destroyed = Release(tap->name);
    if (!destroyed.ok()) spdlog::warn("TAP pool: {}", destroyed.ToString());
    return mac_set.Annotate("TAP " + tap->name);
  }
  return std::move(*tap);
}

Status TapPool::Release(std::string_view name) {
  Status st = Destroy(name);
  if (st.code() == Code::kNotFound) return Status::Ok();
  return st;
}

Status TapPool::Destroy(std::string_view name) {
  if (!name.starts_with(options_.prefix)) {
    return InvalidArgument("\"" + std::string(name) + "\" is not a warren TAP (" + options_.prefix +
                           "<N>); refusing to delete it");
  }
  return RunInNetns(netns_fd_.get(), [&]() -> Status {
    ASSIGN_OR_RETURN(Netlink nl, Netlink::OpenHere());
    return nl.DeleteLink(name);
  });
}

Status TapPool::SetUp(std::string_view name, bool up) {
  return RunInNetns(netns_fd_.get(), [&]() -> Status {
    ASSIGN_OR_RETURN(Netlink nl, Netlink::OpenHere());
    LinkChange change;
    change.up = up;
    return nl.SetLink(name, change);
  });
}

Result<std::vector<std::string>> TapPool::ListTaps() {
  return RunInNetns(netns_fd_.get(), [&]() -> Result<std::vector<std::string>> {
    ASSIGN_OR_RETURN(Netlink nl, Netlink::OpenHere());
    return ListTapsWithPrefix(nl, options_.prefix);
  });
}

Result<std::vector<std::string>> TapPool::ReapStale(const std::set<std::string>& owned_by_vms) {
  ASSIGN_OR_RETURN(std::vector<std::string> taps, ListTaps());
  std::vector<std::string> reaped;
  for (const std::string& name : taps) {
    if (owned_by_vms.contains(name)) continue;
    RETURN_IF_ERROR(Release(name));
    spdlog::info("destroyed stale TAP {} (no VM owns it)", name);
    reaped.push_back(name);
  }
  return reaped;
}

void TapPool::Shutdown() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    refill_cv_.SignalAll();
  }
  if (refill_.joinable()) refill_.join();
  std::deque<Tap> stock;
  {
    MutexLock lock(&mu_);
    stock.swap(ready_);
  }
  for (Tap& tap : stock) {
    Status st = Release(tap.name);
    if (!st.ok()) spdlog::warn("TAP pool shutdown: {}", st.ToString());
  }
}

TapPool::Stats TapPool::GetStats() {
  MutexLock lock(&mu_);
  Stats out = stats_;
  out.ready = ready_.size();
  return out;
}

bool TapPool::WaitForFillForTest(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(&mu_);
  while (ready_.size() < options_.target_size) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    filled_cv_.WaitFor(&mu_, left);
  }
  return true;
}

}  // namespace warren
