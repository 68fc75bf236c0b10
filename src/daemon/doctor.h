#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "sys/host_probe.h"
#include "sys/layout.h"

namespace warren {

enum class CheckLevel { kPass, kWarn, kFail };
std::string_view CheckLevelName(CheckLevel level);  // "PASS", "WARN", "FAIL"

// One line of `warren doctor`: what was checked, what was found, and how to fix
// it when it is not a PASS.
struct CheckResult {
  std::string name;
  CheckLevel level = CheckLevel::kPass;
  std::string found;
  std::string fix;
};

// Everything Doctor looks at, as seams, so tests feed it faked host facts.
struct DoctorInputs {
  HostProbe* probe = nullptr;
  Layout layout;
  std::string accelerator_setting = "auto";  // from the config when it parsed
  // Validates the config file; OK or the error naming the key.
  std::function<Status()> check_config;
  // Runs the store's integrity check; "ok" when healthy. NotFound when there is no store yet.
  std::function<Result<std::string>()> check_store;
  // Asks a running daemon for its version. Unavailable when no daemon answers.
  std::function<Result<std::string>()> daemon_version;
  std::string cli_version = WARREN_VERSION;
  // The running daemon's own checks (VM network, TAP pool, DNS listeners,
  // leftovers); skipped when no daemon answers.
  std::function<Result<std::vector<CheckResult>>()> daemon_checks;
};

// Host diagnostics, with or without a running daemon (the seed's Doctor: no
// receiver). Never fails as a whole: every problem is a FAIL or WARN line.
std::vector<CheckResult> Doctor(const DoctorInputs& in);

// True when any check FAILed (the CLI then exits 1).
bool AnyFailed(const std::vector<CheckResult>& checks);

}  // namespace warren
