#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace warren {

// One program invocation. Programs are run by argv, never through a shell, so
// no argument is ever re-parsed or expanded.
struct RunSpec {
  std::vector<std::string> argv;            // argv[0] resolved via PATH if it has no '/'
  std::vector<std::string> env;             // extra "KEY=VALUE" entries, added to (or overriding) the inherited env
  bool inherit_env = true;                  // false: only `env`
  std::filesystem::path cwd;                // empty = inherit
  std::chrono::milliseconds timeout{0};     // 0 = none; on expiry SIGTERM the process group, SIGKILL after 2 s
  std::string stdin_data;                   // written to stdin, then stdin is closed
  // Streaming: called from the calling thread for each chunk as it arrives (stdout or stderr).
  std::function<void(std::string_view chunk, bool is_stderr)> on_output;
  size_t capture_limit = 16 << 20;          // bytes kept per stream in RunResult (tail dropped beyond, note it)
};

// What a finished program did. exit_code is -1 when it died by a signal, in
// which case term_signal names it. When a stream exceeded capture_limit, its
// first capture_limit bytes are kept and a note "[... N bytes dropped]" is
// appended; on_output still saw every byte.
struct RunResult {
  int exit_code = -1;
  int term_signal = 0;
  std::string out, err;
};

// The seam through which warren runs every external program (qemu, qemu-img,
// mkfs, mmdebstrap, ip, ...). Thread-safe: Run may be called concurrently.
class Runner {
 public:
  virtual ~Runner() = default;
  // Non-zero exit is NOT an error (see exit_code). Errors: program not found (NotFound, naming the program
  // and that it must be installed), timeout (DeadlineExceeded), `stop` requested (Cancelled; the whole process
  // group is killed and reaped), spawn failures (Internal).
  virtual Result<RunResult> Run(const RunSpec& spec, std::stop_token stop = {}) = 0;
};

// Runs each program in its own process group with pipes for stdin/stdout/
// stderr, multiplexed with poll() on the calling thread, and always reaps the
// child before returning (no zombies, including on timeout and cancellation).
// Stateless, hence thread-safe.
class RealRunner final : public Runner {
 public:
  RealRunner() = default;
  Result<RunResult> Run(const RunSpec& spec, std::stop_token stop = {}) override;
};

// Turns a non-zero exit into an error naming argv[0], the exit code/signal and the last ~20 lines of stderr.
// Errors from Run are passed through unchanged.
Status CheckSuccess(const RunSpec& spec, const Result<RunResult>& r);
// Convenience: Run then CheckSuccess; returns stdout.
Result<std::string> RunAndCheck(Runner& runner, const RunSpec& spec, std::stop_token stop = {});

}  // namespace warren
