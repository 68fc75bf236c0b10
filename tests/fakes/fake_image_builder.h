#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "base/status.h"
#include "image/builder.h"

namespace warren {

// ImageBuilder for tests: writes three small files into the staging directory
// (kernel, initrd, rootfs under the builder's own names) and reports two steps.
//
//   FakeImageBuilder b;
//   b.fail_with = Internal("mmdebstrap failed");   // the build fails after
//   writing files b.block = true;                                // waits until
//   Release() or stop
//   ... wait for b.entered() ...  b.Release();
//
// Thread-safe: knobs are atomics or set before the build starts; the recorded
// cache dir is behind a mutex (builds of two names run concurrently).
class FakeImageBuilder final : public ImageBuilder {
 public:
  Status fail_with;  // set before Build runs
  std::atomic<bool> block{false};

  Result<BuiltImage> Build(const Recipe& recipe, const std::filesystem::path& staging_dir,
                           const std::filesystem::path& cache_dir, BuildProgress& progress,
                           std::stop_token stop) override {
    ++builds_;
    progress.Step("base", 0.0);
    progress.Log("fake: building suite " + recipe.suite);
    BuiltImage image;
    image.kernel = staging_dir / "vmlinuz";
    image.initrd = staging_dir / "initrd.img";
    image.rootfs = staging_dir / "rootfs.img";
    std::ofstream(image.kernel) << "kernel";
    std::ofstream(image.initrd) << "initrd";
    std::ofstream(image.rootfs) << "rootfs " << recipe.suite;
    std::filesystem::create_directories(staging_dir / "root" / "etc");
    {
      std::lock_guard<std::mutex> lock(mu_);  // two builds may run at once
      last_cache_dir_ = cache_dir;
    }
    entered_ = true;
    // Bounded, so a test that forgets to release fails instead of hanging.
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (block && !released_ && !stop.stop_requested()) {
      if (std::chrono::steady_clock::now() >= give_up) {
        return DeadlineExceeded("fake build was never released (test bug)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (stop.stop_requested()) return Cancelled("fake build cancelled");
    if (!fail_with.ok()) return fail_with;
    progress.Step("rootfs", 0.8);
    image.cmdline = "console=ttyS0 fake";
    image.facts = {{"flavour", std::string(FlavourName(recipe.flavour))}, {"suite", recipe.suite}};
    return image;
  }

  // True once a build has written its files (and, when blocking, is waiting).
  bool entered() const { return entered_; }
  // Polls until a build entered; false after ~10 s (a broken test, not a timing
  // check).
  bool WaitEntered() const {
    for (int i = 0; i < 5000 && !entered_; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return entered_;
  }
  void Release() { released_ = true; }
  int builds() const { return builds_; }
  std::filesystem::path last_cache_dir() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_cache_dir_;
  }

 private:
  std::atomic<int> builds_{0};
  std::atomic<bool> entered_{false};
  std::atomic<bool> released_{false};
  mutable std::mutex mu_;
  std::filesystem::path last_cache_dir_;  // guarded by mu_
};

}  // namespace warren
