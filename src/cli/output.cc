#include "cli/output.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>

namespace warren::cli {

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> width(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    return out + "\n";
  };
  std::string out = line(headers_);
  for (const auto& row : rows_) out += line(row);
  return out;
}

std::string FormatDuration(int64_t ms) {
  if (ms < 0) ms = 0;
  int64_t s = ms / 1000;
  if (s < 60) return ms < 10000 ? fmt::format("{:.1f}s", ms / 1000.0) : fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

std::string FormatTime(int64_t unix_millis) {
  if (unix_millis == 0) return "-";
  std::time_t t = unix_millis / 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string FormatBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

ProgressLine::ProgressLine() : tty_(isatty(STDERR_FILENO) == 1) {}

void ProgressLine::Update(const std::string& step, double fraction) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  if (!tty_) {
    if (step != last_step_) std::fprintf(stderr, "%3d%% %s\n", int(fraction * 100), step.c_str());
    last_step_ = step;
    return;
  }
  constexpr int kWidth = 30;
  int filled = static_cast<int>(fraction * kWidth);
  std::string bar(filled, '=');
  if (filled < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  std::fprintf(stderr, "\r\033[K[%s] %3d%% %s", bar.c_str(), int(fraction * 100), step.c_str());
  std::fflush(stderr);
  drawn_ = true;
  last_step_ = step;
}

void ProgressLine::Finish() {
  if (tty_ && drawn_) std::fputs("\n", stderr);
  drawn_ = false;
}

void PrintJson(const nlohmann::json& doc) { std::cout << doc.dump(2) << std::endl; }

void SayWhenWaiting(std::string_view method, const nlohmann::json& params) {
  if (method != "vm.waiting") return;
  std::cerr << "waiting for " << params.value("holder", "another call") << " on "
            << params.value("vm", "the VM") << " to finish... (Ctrl-C to give up)\n";
}

}  // namespace warren::cli
