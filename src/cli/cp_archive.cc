#include "cli/cp_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>

namespace warren::cli::cp {
namespace {

namespace fs = std::filesystem;

using ReadPtr = std::unique_ptr<archive, decltype(&archive_read_free)>;
using WritePtr = std::unique_ptr<archive, decltype(&archive_write_free)>;
using EntryPtr = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

Status ArchiveError(archive* a, std::string_view what) {
  const char* msg = archive_error_string(a);
  return Internal(std::string(what) + ": " + (msg != nullptr ? msg : "failed"));
}

std::string HumanBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

// Copies a regular file's data, holes written as zeros for the writer to
// drop (pax sparse entries) or keep (plain ones), as bsdtar does.
Status CopyFileData(archive* disk, archive* w, archive_entry* e, ProgressBar* progress) {
  static const char kZeros[64 * 1024] = {};
  const void* buf = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  int64_t pos = 0;
  int r;
  while ((r = archive_read_data_block(disk, &buf, &size, &offset)) == ARCHIVE_OK) {
    while (pos < offset) {
      size_t n = static_cast<size_t>(std::min<int64_t>(offset - pos, sizeof(kZeros)));
      if (archive_write_data(w, kZeros, n) < 0) return ArchiveError(w, "cp: writing the archive");
      pos += static_cast<int64_t>(n);
      progress->Add(static_cast<int64_t>(n));
    }
    if (archive_write_data(w, buf, size) < 0) return ArchiveError(w, "cp: writing the archive");
    pos += static_cast<int64_t>(size);
    progress->Add(static_cast<int64_t>(size));
  }
  if (r != ARCHIVE_EOF) return ArchiveError(disk, std::string("cp: ") + archive_entry_pathname(e));
  // A trailing hole: the writer pads the entry when it is finished.
  progress->Add(std::max<int64_t>(0, archive_entry_size(e) - pos));
  return Status::Ok();
}

Status WriteSource(archive* w, const ArchiveSource& src, int behavior, ProgressBar* progress) {
  ReadPtr disk(archive_read_disk_new(), archive_read_free);
  archive_read_disk_set_symlink_physical(disk.get());
  if (archive_read_disk_set_behavior(disk.get(), behavior) != ARCHIVE_OK ||
      archive_read_disk_open(disk.get(), src.path.c_str()) != ARCHIVE_OK) {
    return ArchiveError(disk.get(), "cp: " + src.path);
  }
  EntryPtr e(archive_entry_new(), archive_entry_free);
  for (;;) {
    archive_entry_clear(e.get());
    int r = archive_read_next_header2(disk.get(), e.get());
    if (r == ARCHIVE_EOF) return Status::Ok();
    if (r < ARCHIVE_WARN) return ArchiveError(disk.get(), "cp: " + src.path);
    archive_read_disk_descend(disk.get());
    std::string full = archive_entry_pathname(e.get());
    std::string rel = full.substr(std::min(src.path.size(), full.size()));
    if (!rel.empty() && rel.front() != '/') rel.insert(0, "/");
    if (rel.empty() && src.root_name.empty()) continue;  // a "DIR/." root
    std::string name = src.root_name.empty() ? rel.substr(1) : src.root_name + rel;
    archive_entry_set_pathname(e.get(), name.c_str());
    if (archive_write_header(w, e.get()) < ARCHIVE_WARN) {
      return ArchiveError(w, "cp: " + full);
    }
    if (archive_entry_filetype(e.get()) == AE_IFREG && archive_entry_size(e.get()) > 0) {
      RETURN_IF_ERROR(CopyFileData(disk.get(), w, e.get(), progress));
    }
  }
}

Status CopyEntryData(archive* in, archive* out, const std::string& name, ProgressBar* progress) {
  const void* buf = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  int r;
  while ((r = archive_read_data_block(in, &buf, &size, &offset)) == ARCHIVE_OK) {
    if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_WARN) {
      return ArchiveError(out, "cp: " + name);
    }
    progress->Add(static_cast<int64_t>(size));
  }
  if (r != ARCHIVE_EOF) return ArchiveError(in, "cp: reading the tar stream at " + name);
  return Status::Ok();
}

// The extraction loop, run with the working directory at the base.
Status ExtractHere(archive* in, archive* out, const MemberMap& map, ProgressBar* progress) {
  archive_entry* e = nullptr;
  for (;;) {
    int r = archive_read_next_header(in, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return ArchiveError(in, "cp: reading the tar stream");
    ASSIGN_OR_RETURN(std::string name, MapMember(archive_entry_pathname(e), map));
    if (name.empty()) continue;  // the next header skips its data
    archive_entry_set_pathname(e, name.c_str());
    if (const char* link = archive_entry_hardlink(e); link != nullptr) {
      ASSIGN_OR_RETURN(std::string target, MapMember(link, map));
      archive_entry_set_hardlink(e, target.c_str());
    }
    if (archive_write_header(out, e) < ARCHIVE_WARN) return ArchiveError(out, "cp: " + name);
    int64_t before = progress->done();
    if (archive_entry_size(e) > 0) RETURN_IF_ERROR(CopyEntryData(in, out, name, progress));
    if (archive_write_finish_entry(out) < ARCHIVE_WARN) return ArchiveError(out, "cp: " + name);
    progress->Add(std::max<int64_t>(0, archive_entry_size(e) - (progress->done() - before)));
  }
  // Directories' modes and mtimes are set here, after their contents.
  if (archive_write_close(out) < ARCHIVE_WARN) return ArchiveError(out, "cp: finishing");
  return Status::Ok();
}

}  // namespace

void ProgressBar::Add(int64_t bytes) {
  done_ += bytes;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  // Small copies never draw; after that, ten frames a second.
  if (now - start_ < std::chrono::milliseconds(500) || now - last_ < std::chrono::milliseconds(100)) {
    return;
  }
  last_ = now;
  Draw(false);
}

void ProgressBar::Finish() {
  if (enabled_ && drawn_) Draw(true);
  enabled_ = false;
}

void ProgressBar::Draw(bool last) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  int64_t done = done_;
  std::string rate = HumanBytes(secs > 0 ? static_cast<double>(done) / secs : 0) + "/s";
  std::string line;
  if (total_ > 0) {
    double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
    int filled = static_cast<int>(frac * 30);
    line = "[" + std::string(filled, '#') + std::string(30 - filled, '.') + "] " +
           std::to_string(static_cast<int>(frac * 100)) + "%  " + HumanBytes(done) + " / " +
           HumanBytes(total_) + "  " + rate;
  } else {
    line = HumanBytes(done) + " copied  " + rate;
  }
  std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), last ? "\n" : "");
  std::fflush(stderr);
  drawn_ = true;
}

int64_t ContentBytes(const std::vector<ArchiveSource>& sources) {
  int64_t total = 0;
  for (const ArchiveSource& s : sources) {
    std::error_code ec;
    auto st = fs::symlink_status(s.path, ec);
    if (ec) continue;
    if (fs::is_regular_file(st)) total += static_cast<int64_t>(fs::file_size(s.path, ec));
    if (!fs::is_directory(st)) continue;
    for (fs::recursive_directory_iterator it(s.path, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += static_cast<int64_t>(it->file_size(ec));
    }
  }
  return total;
}

Status WriteArchive(int fd, const std::vector<ArchiveSource>& sources, bool sparse,
                    ProgressBar* progress) {
  WritePtr w(archive_write_new(), archive_write_free);
  int r = sparse ? archive_write_set_format_pax(w.get()) : archive_write_set_format_pax_restricted(w.get());
  if (r != ARCHIVE_OK || archive_write_open_fd(w.get(), fd) != ARCHIVE_OK) {
    return ArchiveError(w.get(), "cp: starting the archive");
  }
  int behavior = ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL | ARCHIVE_READDISK_NO_FFLAGS;
  if (!sparse) behavior |= ARCHIVE_READDISK_NO_SPARSE;
  for (const ArchiveSource& s : sources) RETURN_IF_ERROR(WriteSource(w.get(), s, behavior, progress));
  if (archive_write_close(w.get()) != ARCHIVE_OK) return ArchiveError(w.get(), "cp: ending the archive");
  return Status::Ok();
}

Status ExtractArchive(int fd, const std::string& base_dir, const MemberMap& map,
                      ProgressBar* progress) {
  ReadPtr in(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(in.get());
  if (archive_read_set_options(in.get(), "tar:read_concatenated_archives") != ARCHIVE_OK ||
      archive_read_open_fd(in.get(), fd, 64 * 1024) != ARCHIVE_OK) {
    return ArchiveError(in.get(), "cp: reading the tar stream");
  }
  WritePtr out(archive_write_disk_new(), archive_write_free);
  archive_write_disk_set_options(
      out.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SPARSE |
                     ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                     ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
  // Members are named relative to the base, so the user's own path (which may
  // pass through symlinks) is resolved once here and only what the archive
  // adds is checked for symlinks. The CLI has no other use for its cwd.
  int saved = ::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (saved < 0) return ErrnoError("cp: open .", errno);
  if (::chdir(base_dir.c_str()) != 0) {
    int err = errno;
    ::close(saved);
    return ErrnoError("cp: " + base_dir, err);
  }
  Status st = ExtractHere(in.get(), out.get(), map, progress);
  if (::fchdir(saved) != 0 && st.ok()) st = ErrnoError("cp: returning to the working directory", errno);
  ::close(saved);
  return st;
}

}  // namespace warren::cli::cp
