#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "vm/hypervisor.h"

namespace warren {

// Scripted Hypervisor for tests. "Processes" are pids in a table; Stop/Kill end
// them and call their exit callback on the calling thread (no fake lock held),
// ExitForTest simulates a guest poweroff or crash (from any thread, as QEMU's
// watcher thread would), MarkDeadForTest a QEMU that died while no daemon
// watched it. As with QemuProcess (whose destructor joins its watcher),
// destroying a handle waits for an exit callback already running.
// Thread-safe.
class FakeHypervisor : public Hypervisor {
public:
  struct Proc {
    bool alive = true;
    QemuExitCallback on_exit; // cleared when its handle is destroyed
    // Held while on_exit runs; the handle's destructor waits on it. A plain
    // std::mutex: it is held across the callback, which takes warren's
    // ranked locks.
    std::shared_ptr<std::mutex> running = std::make_shared<std::mutex>();
  };

  Result<std::unique_ptr<VmProcess>> Launch(const VmSpec &spec, int tap_fd, int ram_fd,
                                            const std::filesystem::path &,
                                            QemuExitCallback on_exit) override {
    MutexLock lock(&mu_);
    if (!launch_error_.ok())
      return launch_error_;
    if (tap_fd < 0)
      return InvalidArgument("FakeHypervisor: no TAP fd");
    if ((ram_fd >= 0) != (spec.ram_file == kQemuRamFdPath))
      return InvalidArgument("FakeHypervisor: a RAM fd and spec.ram_file go together");
    specs_.push_back(spec);
    if (!serial_output_.empty())
      std::ofstream(spec.serial_log, std::ios::binary) << serial_output_;
    pid_t pid = next_pid_++;
    procs_[pid] = Proc{true, std::move(on_exit)};
    return std::unique_ptr<VmProcess>(new Handle(this, pid));
  }

  Result<std::unique_ptr<VmProcess>> Adopt(pid_t pid,
                                           const std::filesystem::path &,
                                           QemuExitCallback on_exit) override {
    MutexLock lock(&mu_);
    auto it = procs_.find(pid);
    if (it == procs_.end() || !it->second.alive)
      return NotFound("FakeHypervisor: pid gone");
    it->second.on_exit = std::move(on_exit);
    ++adopted_;
    return std::unique_ptr<VmProcess>(new Handle(this, pid));
  }

  // What each launched "guest" writes to its serial console log at once.
  void SetSerialOutput(std::string text) {
    MutexLock lock(&mu_);
    serial_output_ = std::move(text);
  }
  void FailLaunch(Status status) {
    MutexLock lock(&mu_);
    launch_error_ = std::move(status);
  }
  // Ends `pid` as if QEMU exited by itself (code, or signal when non-zero).
  void ExitForTest(pid_t pid, int exit_code, int term_signal = 0) {
    End(pid, QemuExit{true, exit_code, term_signal, false});
  }
  // The process vanishes without a callback (it died while the daemon was
  // down).
  void MarkDeadForTest(pid_t pid) {
    MutexLock lock(&mu_);
    procs_[pid].alive = false;
  }
  std::set<pid_t> Alive() const {
    MutexLock lock(&mu_);
    std::set<pid_t> alive;
    for (const auto &[pid, p] : procs_) {
      if (p.alive)
        alive.insert(pid);
    }
    return alive;
  }
  // What was done to each guest after launch: "load", "resume", in order.
  std::vector<std::string> guest_events(pid_t pid) const {
    MutexLock lock(&mu_);
    auto it = guest_events_.find(pid);
    return it == guest_events_.end() ? std::vector<std::string>{} : it->second;
  }
  std::vector<VmSpec> launches() const {
    MutexLock lock(&mu_);
    return specs_;
  }
  int adopted() const {
    MutexLock lock(&mu_);
    return adopted_;
  }

private:
  class Handle : public VmProcess {
  public:
    Handle(FakeHypervisor *hv, pid_t pid) : hv_(hv), pid_(pid) {}
    ~Handle() override { hv_->Forget(pid_); }
    pid_t pid() const override { return pid_; }
    Status Stop(std::chrono::milliseconds) override {
      hv_->End(pid_, QemuExit{true, 0, 0, true});
      return Status::Ok();
    }
    Status Kill() override {
      hv_->End(pid_, QemuExit{true, -1, 9, true});
      return Status::Ok();
    }
    // A fake guest's "state" is one line naming where its RAM is and the pid
    // that saved it; it loads only as it was saved.
    Status SaveState(int fd, GuestRam ram, std::chrono::milliseconds) override {
      std::string state = std::string(ram == GuestRam::kApart ? "fake-apart " : "fake-state ") +
                          std::to_string(pid_) + "\n";
      if (::write(fd, state.data(), state.size()) != static_cast<ssize_t>(state.size()))
        return Internal("FakeHypervisor: write state");
      return Status::Ok();
    }
    Status LoadState(int fd, GuestRam ram, std::chrono::milliseconds) override {
      char buf[64];
      const std::string_view want = ram == GuestRam::kApart ? "fake-apart" : "fake-state";
      if (::read(fd, buf, sizeof(buf)) < 10 || std::string_view(buf, 10) != want)
        return FailedPrecondition("FakeHypervisor: no " + std::string(want) + " to load");
      hv_->Record(pid_, ram == GuestRam::kApart ? "load-apart" : "load");
      return Status::Ok();
    }
    Status Resume() override {
      hv_->Record(pid_, "resume");
      return Status::Ok();
    }

  private:
    FakeHypervisor *const hv_;
    const pid_t pid_;
  };

  void End(pid_t pid, const QemuExit &exit) {
    QemuExitCallback cb;
    std::unique_lock<std::mutex> running;
    {
      MutexLock lock(&mu_);
      Proc &p = procs_[pid];
      if (!p.alive)
        return;
      p.alive = false;
      cb = std::move(p.on_exit);
      p.on_exit = nullptr;
      if (cb)
        running = std::unique_lock<std::mutex>(*p.running);
    }
    if (cb)
      cb(exit);
  }
  void Record(pid_t pid, std::string event) {
    MutexLock lock(&mu_);
    guest_events_[pid].push_back(std::move(event));
  }
  void Forget(pid_t pid) {
    std::shared_ptr<std::mutex> running;
    {
      MutexLock lock(&mu_);
      auto it = procs_.find(pid);
      if (it == procs_.end())
        return;
      it->second.on_exit = nullptr;
      running = it->second.running;
    }
    std::lock_guard<std::mutex> wait_for_callback(*running);
  }

  mutable Mutex mu_{LockRank::kLeaf, "FakeHypervisor"};
  std::map<pid_t, Proc> procs_ GUARDED_BY(mu_);
  std::vector<VmSpec> specs_ GUARDED_BY(mu_);
  std::map<pid_t, std::vector<std::string>> guest_events_ GUARDED_BY(mu_);
  Status launch_error_ GUARDED_BY(mu_);
  std::string serial_output_ GUARDED_BY(mu_);
  pid_t next_pid_ GUARDED_BY(mu_) = 1000;
  int adopted_ GUARDED_BY(mu_) = 0;
};

// TapSource handing out "wtapN" names with /dev/null fds. Thread-safe.
class FakeTapSource : public TapSource {
public:
  Result<Tap> Take(const MacAddress &) override {
    MutexLock lock(&mu_);
    if (!take_error_.ok())
      return take_error_;
    std::string name = "wtap" + std::to_string(next_++);
    held_.insert(name);
    return Tap{name, UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC))};
  }
  Status Release(std::string_view name) override {
    MutexLock lock(&mu_);
    held_.erase(std::string(name));
    released_.push_back(std::string(name));
    return Status::Ok();
  }
  Status SetUp(std::string_view name, bool up) override {
    MutexLock lock(&mu_);
    links_.push_back((up ? "up " : "down ") + std::string(name));
    return Status::Ok();
  }
  // Each SetUp, in order: "down wtap3", "up wtap3".
  std::vector<std::string> links() const {
    MutexLock lock(&mu_);
    return links_;
  }
  void FailTake(Status status) {
    MutexLock lock(&mu_);
    take_error_ = std::move(status);
  }
  std::set<std::string> held() const {
    MutexLock lock(&mu_);
    return held_;
  }
  std::vector<std::string> released() const {
    MutexLock lock(&mu_);
    return released_;
  }

private:
  mutable Mutex mu_{LockRank::kLeaf, "FakeTapSource"};
  std::set<std::string> held_ GUARDED_BY(mu_);
  std::vector<std::string> released_ GUARDED_BY(mu_);
  std::vector<std::string> links_ GUARDED_BY(mu_);
  Status take_error_ GUARDED_BY(mu_);
  int next_ GUARDED_BY(mu_) = 0;
};

} // namespace warren
