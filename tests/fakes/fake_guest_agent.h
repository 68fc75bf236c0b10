#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "vm/guest_agent.h"

namespace warren {

// Guest agents of fake VMs: each connection records the clock steps and
// re-identifications sent to the socket it was made for. `answering` false:
// every connect is Unavailable, as for a guest without the agent.
// Thread-safety: all members may be called from any thread.
class FakeGuestAgents {
 public:
  struct ClockStep {
    std::filesystem::path socket;
    int64_t unix_time_ns = 0;
  };

  ConnectAgent Connector() {
    return [this](const std::filesystem::path& socket) -> Result<std::unique_ptr<GuestAgent>> {
      if (!answering.load()) return Unavailable("FakeGuestAgents: no agent at " + socket.string());
      return std::unique_ptr<GuestAgent>(std::make_unique<Agent>(this, socket));
    };
  }
  struct Reidentified {
    std::filesystem::path socket;
    GuestIdentity identity;
  };

  std::vector<ClockStep> clock_steps() const {
    MutexLock lock(&mu_);
    return clock_steps_;
  }
  std::vector<Reidentified> reidentified() const {
    MutexLock lock(&mu_);
    return reidentified_;
  }
  // Called at each Reidentify (no fake lock held): what the test checks at
  // that instant.
  void OnReidentify(std::function<void(const std::filesystem::path& socket)> fn) {
    MutexLock lock(&mu_);
    on_reidentify_ = std::move(fn);
  }

  std::atomic<bool> answering{true};

 private:
  class Agent : public GuestAgent {
   public:
    Agent(FakeGuestAgents* owner, std::filesystem::path socket)
        : owner_(owner), socket_(std::move(socket)) {}
    Status Ping(std::chrono::milliseconds) override { return Status::Ok(); }
    Status SetClock(int64_t unix_time_ns, std::chrono::milliseconds) override {
      MutexLock lock(&owner_->mu_);
      owner_->clock_steps_.push_back({socket_, unix_time_ns});
      return Status::Ok();
    }
    Status Reidentify(const GuestIdentity& identity, std::chrono::milliseconds) override {
      std::function<void(const std::filesystem::path&)> hook;
      {
        MutexLock lock(&owner_->mu_);
        owner_->reidentified_.push_back({socket_, identity});
        hook = owner_->on_reidentify_;
      }
      if (hook) hook(socket_);
      return Status::Ok();
    }

   private:
    FakeGuestAgents* const owner_;
    const std::filesystem::path socket_;
  };

  mutable Mutex mu_{LockRank::kLeaf, "fake_guest_agents"};
  std::vector<ClockStep> clock_steps_ GUARDED_BY(mu_);
  std::vector<Reidentified> reidentified_ GUARDED_BY(mu_);
  std::function<void(const std::filesystem::path&)> on_reidentify_ GUARDED_BY(mu_);
};

}  // namespace warren
