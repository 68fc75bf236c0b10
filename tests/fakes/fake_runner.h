#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "sys/runner.h"

namespace warren {

// Scripted Runner for tests. Records every RunSpec and answers from rules:
//
//   FakeRunner runner;
//   runner.On({"qemu-img", "create"}, RunResult{.exit_code = 0});
//   runner.OnError({"mkfs.ext4"}, NotFound("program \"mkfs.ext4\" not found"));
//   runner.OnCall({"qemu-system-x86_64"}, [](const RunSpec& s, std::stop_token) { ... });
//
// A rule matches when its prefix is a prefix of argv; argv[0] also matches by
// basename when the prefix's first word has no '/' (so {"qemu-img"} matches
// "/usr/bin/qemu-img"). The most recently added matching rule wins, so a test
// can override a default rule. Unmatched calls return `SetUnmatched(...)`
// (default: NotFound, as if the program were not installed).
// Canned out/err are also fed to spec.on_output, stdout first.
// Thread-safe; callbacks run without the lock held.
class FakeRunner : public Runner {
 public:
  using Callback = std::function<Result<RunResult>(const RunSpec&, std::stop_token)>;

  FakeRunner& On(std::vector<std::string> prefix, RunResult result) {
    return OnCall(
        std::move(prefix),
        [result](const RunSpec&, std::stop_token) -> Result<RunResult> { return result; });
  }
  // Shorthand: exit 0 with `out` on stdout.
  FakeRunner& OnOutput(std::vector<std::string> prefix, std::string out) {
    RunResult r;
    r.exit_code = 0;
    r.out = std::move(out);
    return On(std::move(prefix), std::move(r));
  }
  FakeRunner& OnError(std::vector<std::string> prefix, Status status) {
    return OnCall(
        std::move(prefix),
        [status](const RunSpec&, std::stop_token) -> Result<RunResult> { return status; });
  }
  FakeRunner& OnCall(std::vector<std::string> prefix, Callback fn) {
    MutexLock lock(&mu_);
    rules_.push_back(Rule{std::move(prefix), std::move(fn)});
    return *this;
  }
  void SetUnmatched(Callback fn) {
    MutexLock lock(&mu_);
    unmatched_ = std::move(fn);
  }

  Result<RunResult> Run(const RunSpec& spec, std::stop_token stop = {}) override {
    Callback fn;
    {
      MutexLock lock(&mu_);
      specs_.push_back(spec);
      for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
        if (Matches(it->prefix, spec.argv)) {
          fn = it->fn;
          break;
        }
      }
      if (!fn) fn = unmatched_;
    }
    Result<RunResult> r = fn ? fn(spec, stop) : DefaultUnmatched(spec);
    if (r.ok() && spec.on_output) {
      if (!r->out.empty()) spec.on_output(r->out, false);
      if (!r->err.empty()) spec.on_output(r->err, true);
    }
    return r;
  }

  // Every argv seen, in call order.
  std::vector<std::vector<std::string>> calls() const {
    MutexLock lock(&mu_);
    std::vector<std::vector<std::string>> out;
    for (const RunSpec& s : specs_) out.push_back(s.argv);
    return out;
  }
  // Full specs (env, cwd, stdin, timeout), in call order. on_output is copied too.
  std::vector<RunSpec> specs() const {
    MutexLock lock(&mu_);
    return specs_;
  }
  // How many calls matched `prefix` (same matching as rules).
  int CallCount(const std::vector<std::string>& prefix) const {
    MutexLock lock(&mu_);
    int n = 0;
    for (const RunSpec& s : specs_) n += Matches(prefix, s.argv) ? 1 : 0;
    return n;
  }
  bool Called(const std::vector<std::string>& prefix) const { return CallCount(prefix) > 0; }

 private:
  struct Rule {
    std::vector<std::string> prefix;
    Callback fn;
  };

  static bool Matches(const std::vector<std::string>& prefix,
                      const std::vector<std::string>& argv) {
    if (prefix.empty()) return true;
    if (argv.size() < prefix.size() || argv.empty()) return false;
    const std::string& p0 = prefix[0];
    const std::string& a0 = argv[0];
    bool first = a0 == p0;
    if (!first && p0.find('/') == std::string::npos) {
      size_t slash = a0.rfind('/');
      first = slash != std::string::npos && a0.compare(slash + 1, std::string::npos, p0) == 0;
    }
    if (!first) return false;
    for (size_t i = 1; i < prefix.size(); ++i) {
      if (argv[i] != prefix[i]) return false;
    }
    return true;
  }

  static Result<RunResult> DefaultUnmatched(const RunSpec& spec) {
    std::string name = spec.argv.empty() ? "" : spec.argv[0];
    return NotFound("program \"" + name +
                    "\" not found in PATH (FakeRunner has no rule for it); "
                    "it must be installed");
  }

  mutable Mutex mu_{LockRank::kLeaf, "FakeRunner"};
  std::vector<Rule> rules_ GUARDED_BY(mu_);
  std::vector<RunSpec> specs_ GUARDED_BY(mu_);
  Callback unmatched_ GUARDED_BY(mu_);
};

}  // namespace warren
