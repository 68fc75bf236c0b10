#pragma once

#include <fcntl.h>
#include <sys/socket.h>

#include <set>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "daemon/deps.h"

namespace warren {

// TapStock handing out "wtapN" names with /dev/null fds (QEMU is fake too).
// Thread-safe.
class FakeTapStock final : public TapStock {
 public:
  Status Start() override {
    MutexLock lock(&mu_);
    started_ = true;
    return Status::Ok();
  }
  Result<Tap> Take(const MacAddress&) override {
    MutexLock lock(&mu_);
    if (stopped_) return FailedPrecondition("FakeTapStock: shut down");
    std::string name = "wtap" + std::to_string(next_++);
    held_.insert(name);
    ++stats_.cold_takes;
    return Tap{name, UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC))};
  }
  Status Release(std::string_view name) override {
    MutexLock lock(&mu_);
    held_.erase(std::string(name));
    return Status::Ok();
  }
  Status SetUp(std::string_view, bool) override { return Status::Ok(); }
  Result<std::vector<std::string>> ListTaps() override {
    MutexLock lock(&mu_);
    return std::vector<std::string>(held_.begin(), held_.end());
  }
  Result<std::vector<std::string>> ReapStale(const std::set<std::string>& owned) override {
    MutexLock lock(&mu_);
    std::vector<std::string> reaped;
    for (auto it = held_.begin(); it != held_.end();) {
      if (owned.count(*it) == 0) {
        reaped.push_back(*it);
        it = held_.erase(it);
      } else {
        ++it;
      }
    }
    return reaped;
  }
  void Shutdown() override {
    MutexLock lock(&mu_);
    stopped_ = true;
  }
  Stats GetStats() override {
    MutexLock lock(&mu_);
    return stats_;
  }

 private:
  Mutex mu_{LockRank::kLeaf, "FakeTapStock"};
  std::set<std::string> held_ GUARDED_BY(mu_);
  Stats stats_ GUARDED_BY(mu_);
  int next_ GUARDED_BY(mu_) = 0;
  bool started_ GUARDED_BY(mu_) = false;
  bool stopped_ GUARDED_BY(mu_) = false;
};

// HostNetwork that needs no privilege: the "VM namespace" is the caller's own
// (opened, never entered), bridges and uplinks are only recorded, TAPs come
// from a FakeTapStock, and the guest DNS listener binds 127.0.0.1 on a port
// the kernel picks. Thread-safe.
class FakeHostNetwork final : public HostNetwork {
 public:
  Result<NetnsHandle> OpenNetns(std::string_view name) override {
    Record("open netns " + std::string(name));
    return NetnsHandle::Current();
  }
  Status DeleteNetns(std::string_view name) override {
    Record("delete netns " + std::string(name));
    return Status::Ok();
  }
  Status EnsureBridge(const NetnsHandle&, const BridgeConfig& bridge) override {
    Record("bridge " + bridge.name + " " + bridge.address_cidr);
    return Status::Ok();
  }
  Status EnsureUplink(const NetnsHandle&, const NatUplinkConfig& uplink) override {
    Record("uplink " + uplink.host_link);
    return Status::Ok();
  }
  Status RemoveUplink(const NatUplinkConfig& uplink) override {
    Record("remove uplink " + uplink.host_link);
    return Status::Ok();
  }
  Status ApplyNftables(const NetnsHandle&, const std::string& script) override {
    Record("nft " + script);
    return Status::Ok();
  }
  Result<std::unique_ptr<TapStock>> CreateTapStock(const NetnsHandle&,
                                                   TapPoolOptions options) override {
    Record("tap stock on " + options.bridge);
    return std::unique_ptr<TapStock>(std::make_unique<FakeTapStock>());
  }
  SocketFactory GuestSockets(const NetnsHandle&) override { return HostSocketFactory(); }
  Result<DnsListenSockets> BindGuestDns(const NetnsHandle&, const std::string& ip,
                                        uint16_t port) override {
    Record("guest dns " + ip + ":" + std::to_string(port));
    return BindDnsSockets("127.0.0.1", 0, [](int type) -> Result<UniqueFd> {
      int fd = ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) return ErrnoError("socket", errno);
      return UniqueFd(fd);
    });
  }

  std::vector<std::string> calls() const {
    MutexLock lock(&mu_);
    return calls_;
  }

 private:
  void Record(std::string call) {
    MutexLock lock(&mu_);
    calls_.push_back(std::move(call));
  }

  mutable Mutex mu_{LockRank::kLeaf, "FakeHostNetwork"};
  std::vector<std::string> calls_ GUARDED_BY(mu_);
};

}  // namespace warren
