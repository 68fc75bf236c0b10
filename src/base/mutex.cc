#include "base/mutex.h"

#include <cstdio>
#include <cstdlib>

namespace warren {
namespace {

// Locks held by this thread, in acquisition order. Deep nesting is a bug in
// itself, so a small fixed array is enough.
constexpr int kMaxHeld = 8;
struct HeldLocks {
  const Mutex* locks[kMaxHeld];
  int count = 0;
};
thread_local HeldLocks held;

[[noreturn]] void Die(const char* what, const Mutex* taking, const Mutex* holding) {
  std::fprintf(stderr, "lock order violation: %s: taking \"%s\" (rank %d) while holding \"%s\" (rank %d)\n",
               what, taking->name(), static_cast<int>(taking->rank()),
               holding ? holding->name() : "-", holding ? static_cast<int>(holding->rank()) : 0);
  std::abort();
}

void NoteAcquire(const Mutex* mu) {
  for (int i = 0; i < held.count; ++i) {
    if (held.locks[i]->rank() >= mu->rank()) Die("rank must increase", mu, held.locks[i]);
  }
  if (held.count == kMaxHeld) Die("too many locks held", mu, nullptr);
  held.locks[held.count++] = mu;
}

void NoteRelease(const Mutex* mu) {
  for (int i = held.count - 1; i >= 0; --i) {
    if (held.locks[i] == mu) {
      for (int j = i; j + 1 < held.count; ++j) held.locks[j] = held.locks[j + 1];
      --held.count;
      return;
    }
  }
  Die("releasing a lock this thread does not hold", mu, nullptr);
}

}  // namespace

void Mutex::Lock() {
  NoteAcquire(this);
  mu_.lock();
}

void Mutex::Unlock() {
  mu_.unlock();
  NoteRelease(this);
}

void Mutex::AssertHeld() const {
  for (int i = 0; i < held.count; ++i) {
    if (held.locks[i] == this) return;
  }
  Die("AssertHeld on a lock this thread does not hold", this, nullptr);
}

void CondVar::Wait(Mutex* mu) {
  if (mu != mu_) Die("CondVar waited on with another mutex than its own", mu, mu_);
  mu_->AssertHeld();
  std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
  cv_.wait(lock);
  lock.release();
}

bool CondVar::WaitFor(Mutex* mu, std::chrono::milliseconds timeout) {
  if (mu != mu_) Die("CondVar waited on with another mutex than its own", mu, mu_);
  mu_->AssertHeld();
  std::unique_lock<std::mutex> lock(mu_->mu_, std::adopt_lock);
  bool signalled = cv_.wait_for(lock, timeout) == std::cv_status::no_timeout;
  lock.release();
  return signalled;
}

}  // namespace warren
