#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace warren::cli {

// A plain left-aligned text table, as docker/incus print them.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void AddRow(std::vector<std::string> cells);
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "3s", "2m05s", "1h02m" — for ages and durations.
std::string FormatDuration(int64_t millis);
// "2026-11-26 09:44:01" in local time; "-" for 0.
std::string FormatTime(int64_t unix_millis);
// "512.0 MiB".
std::string FormatBytes(uint64_t bytes);

// Renders progress on one terminal line ("\r[=====>    ]  45% clone disk") when
// stderr is a TTY, else one line per step change. Finish() ends the line.
class ProgressLine {
 public:
  ProgressLine();
  void Update(const std::string& step, double fraction);
  void Finish();

 private:
  bool tty_;
  std::string last_step_;
  bool drawn_ = false;
};

// Prints one JSON document on stdout (the --json contract).
void PrintJson(const nlohmann::json& doc);

// A notification handler for calls that may wait for a VM's lock: prints the
// daemon's `vm.waiting` {vm, holder} on stderr, ignores everything else.
void SayWhenWaiting(std::string_view method, const nlohmann::json& params);

}  // namespace warren::cli
