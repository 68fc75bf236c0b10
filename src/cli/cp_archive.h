#pragma once

// `warren cp`: the host's half of the tar stream, with libarchive. Writing
// walks host trees without following symlinks and records sparse files'
// holes (read from the filesystem) so a guest with GNU tar or bsdtar recreates
// them; reading extracts a guest's stream (GNU, busybox or bsdtar, several
// archives one after another) under one directory, renaming members by
// cp_plan's MapMember, refusing "..", absolute names and writes through
// symlinks, and turning runs of zeros back into holes (busybox tar sends
// sparse files dense). Owners are not kept (as docker cp: the copier owns them).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "cli/cp_plan.h"

namespace warren::cli::cp {

// A one-line bar on stderr: drawn only when `enabled` (stderr is a terminal)
// and the copy lasts long enough to need one. Fed from one thread at a time.
class ProgressBar {
 public:
  ProgressBar(bool enabled, int64_t total) : enabled_(enabled), total_(total) {}
  ~ProgressBar() { Finish(); }
  void Add(int64_t bytes);
  void Finish();
  int64_t done() const { return done_; }

 private:
  void Draw(bool last);
  bool enabled_;
  int64_t total_;  // < 0: unknown (bytes and rate only)
  std::atomic<int64_t> done_{0};
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

// One host source to archive: `path` as given (opened, not followed if it is a
// symlink) and the member name its root takes ("" = leave the root out and
// archive its entries: a "DIR/." source extracted in place).
struct ArchiveSource {
  std::string path;
  std::string root_name;
};

// The size of the file data under `sources` (for the bar's total).
int64_t ContentBytes(const std::vector<ArchiveSource>& sources);

// Writes one tar of `sources` to `fd`. `sparse`: pax with GNU sparse maps (GNU
// tar, bsdtar); otherwise plain pax with holes written as zeros (busybox).
Status WriteArchive(int fd, const std::vector<ArchiveSource>& sources, bool sparse,
                    ProgressBar* progress);

// Extracts the tar stream read from `fd` under `base_dir` (which must exist),
// each member renamed by `map`. Stops at the first refused or failed member.
Status ExtractArchive(int fd, const std::string& base_dir, const MemberMap& map,
                      ProgressBar* progress);

}  // namespace warren::cli::cp
