#include "cli/cp_transfer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <optional>
#include <thread>

#include "base/mutex.h"
#include "cli/cp_archive.h"
#include "sys/files.h"
#include "sys/unique_fd.h"

namespace warren::cli::cp {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxHeader = 4096;
constexpr size_t kMaxStderr = 64 * 1024;

struct Pipe {
  UniqueFd r, w;
  static Result<Pipe> Make() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("cp: pipe", errno);
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
  }
};

// The guest's header line, handed from the output callback (the call's
// thread) to the upload's writer thread. Thread-safe.
class HeaderLatch {
 public:
  void Set(std::optional<std::string> line) {
    MutexLock lock(&mu_);
    if (set_) return;
    set_ = true;
    line_ = std::move(line);
    cv_.SignalAll();
  }
  std::optional<std::string> Wait() {
    MutexLock lock(&mu_);
    while (!set_) cv_.Wait(&mu_);
    return line_;
  }

 private:
  Mutex mu_{LockRank::kLeaf, "cp header"};
  CondVar cv_{&mu_};
  bool set_ GUARDED_BY(mu_) = false;
  std::optional<std::string> line_ GUARDED_BY(mu_);
};

// The guest's stdout: one header line, then the tar stream; its stderr kept
// (bounded) for the error message. Used on the call's thread only.
struct GuestOutput {
  std::string header;
  bool header_done = false;
  std::string err;
  // Returns false when the header line is too long to be warren's.
  bool Feed(std::string_view bytes, std::string_view* rest) {
    *rest = {};
    if (header_done) {
      *rest = bytes;
      return true;
    }
    size_t nl = bytes.find('\n');
    header.append(bytes.substr(0, nl));
    if (nl == std::string_view::npos) return header.size() <= kMaxHeader;
    header_done = true;
    *rest = bytes.substr(nl + 1);
    return true;
  }
  void Err(std::string_view bytes) {
    if (err.size() < kMaxStderr) err.append(bytes.substr(0, kMaxStderr - err.size()));
  }
};

// The guest side failed: its own message (the script says "warren: ..."; tar
// says "tar: ...") becomes the status.
Status GuestFailed(std::string_view label, int code, std::string err) {
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
  if (err.starts_with("warren: ")) err.erase(0, 8);
  if (err.empty()) err = "cp: the guest's side failed (exit " + std::to_string(code) + ")";
  else if (code != 127 && !err.starts_with(label)) err = std::string(label) + ": " + err;
  return FailedPrecondition(err);
}

struct LocalSource {
  std::string path;  // as given
  SourceRoot root;
  SourceInfo info;
};

Result<std::vector<LocalSource>> CheckLocalSources(const Plan& plan, const CopyOptions& o) {
  std::vector<LocalSource> out;
  for (const std::string& p : plan.sources) {
    if (plan.stdio) {
      out.push_back({p, {".", "."}, {SrcKind::kTarStream, false}});
      continue;
    }
    LocalSource s{p, SplitSource(p), {}};
    struct stat st{};
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) return NotFound(p + ": no such file or directory");
      return ErrnoError(p, errno);
    }
    s.info.contents = s.root.contents();
    bool dir = S_ISDIR(st.st_mode);
    if (s.info.contents && !dir) return FailedPrecondition(p + ": not a directory");
    if (dir && !o.recursive) return InvalidArgument(p + ": is a directory (use -r)");
    s.info.kind = dir ? SrcKind::kDir : SrcKind::kFile;
    out.push_back(std::move(s));
  }
  return out;
}

// The names the sources take in DST (into), for the guest's busybox check.
std::vector<std::string> TopNames(const std::vector<LocalSource>& sources) {
  std::vector<std::string> names;
  for (const LocalSource& s : sources) {
    if (s.info.kind == SrcKind::kTarStream) continue;
    if (!s.info.contents) {
      names.push_back(s.root.name);
      continue;
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(s.root.dir, ec)) names.push_back(e.path().filename());
  }
  return names;
}

// The upload's writer: waits for the guest's header, decides, then streams.
Status FeedGuest(HeaderLatch& latch, int fd, const Plan& plan, const std::vector<LocalSource>& sources,
                 const CopyOptions& o, bool* decided) {
  std::optional<std::string> line = latch.Wait();
  if (!line) return Status::Ok();  // the guest failed first; its message says why
  ASSIGN_OR_RETURN(GuestHeader h, ParseHeader(*line));
  std::vector<SourceInfo> infos;
  for (const LocalSource& s : sources) infos.push_back(s.info);
  ASSIGN_OR_RETURN(Placement place,
                   Place(plan.dst, plan.vm + ":" + plan.dst, ParseDstState(h.word), infos));
  *decided = true;
  if (!WriteFully(fd, place == Placement::kInto ? "into\n" : "rename\n")) return Status::Ok();
  if (plan.stdio) {
    char buf[64 * 1024];
    for (;;) {
      ssize_t n = ::read(0, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError("cp: reading stdin", errno);
      if (n == 0 || !WriteFully(fd, {buf, static_cast<size_t>(n)})) return Status::Ok();
    }
  }
  std::vector<ArchiveSource> archive;
  for (const LocalSource& s : sources) {
    std::string path = s.info.contents ? s.root.dir
                       : s.root.dir == "/" ? "/" + s.root.name
                                           : s.root.dir + "/" + s.root.name;
    std::string root = place == Placement::kRename ? BaseOf(plan.dst) : s.info.contents ? "" : s.root.name;
    archive.push_back({path, root});
  }
  ProgressBar bar(o.progress, o.progress ? ContentBytes(archive) : -1);
  return WriteArchive(fd, archive, h.flavour == "gnu" || h.flavour == "bsd", &bar);
}

Result<DstState> LocalDstState(const std::string& dst) {
  struct stat st{};
  if (::stat(dst.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return DstState::kDir;
  if (::lstat(dst.c_str(), &st) == 0) return DstState::kNotDir;
  if (errno != ENOENT && errno != ENOTDIR) return ErrnoError(dst, errno);
  std::string parent = ParentOf(dst);
  if (::stat(parent.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return DstState::kMissing;
  return DstState::kNoParent;
}

}  // namespace

Status CopyToGuest(const GuestExec& exec, const Plan& plan, const CopyOptions& o) {
  ASSIGN_OR_RETURN(std::vector<LocalSource> sources, CheckLocalSources(plan, o));
  ASSIGN_OR_RETURN(Pipe in, Pipe::Make());
  HeaderLatch latch;
  Status fed;
  bool decided = false;
  std::thread writer([&] {
    fed = FeedGuest(latch, in.w.get(), plan, sources, o, &decided);
    in.w.Reset();  // EOF: the guest's tar ends, or its `read` gives up
  });
  GuestOutput out;
  GuestRun run{UploadArgv(plan.vm, plan.dst, TopNames(sources)), in.r.get(),
               [&](uint8_t channel, std::string_view bytes) {
                 if (channel != 1) {
                   out.Err(bytes);
                   return true;
                 }
                 std::string_view rest;
                 bool ok = out.Feed(bytes, &rest);
                 if (out.header_done) latch.Set(out.header);
                 return ok;
               }};
  Result<int> code = exec(run);
  latch.Set(std::nullopt);
  in.r.Reset();  // a writer still blocked on a full pipe gets EPIPE
  writer.join();
  if (!decided && !fed.ok()) return fed;  // refused before anything was sent
  if (!code.ok()) return code.error();
  if (*code != 0) return GuestFailed(plan.vm, *code, out.err);
  if (!fed.ok()) return fed;
  if (!out.err.empty()) std::fwrite(out.err.data(), 1, out.err.size(), stderr);
  return Status::Ok();
}

Status CopyFromGuest(const GuestExec& exec, const Plan& plan, const CopyOptions& o) {
  DstState state = DstState::kDir;
  if (!plan.stdio) {
    ASSIGN_OR_RETURN(state, LocalDstState(plan.dst));
  }
  ASSIGN_OR_RETURN(Pipe in, Pipe::Make());
  ASSIGN_OR_RETURN(Pipe data, Pipe::Make());
  std::thread extractor;
  Status decision, extracted;
  std::optional<ProgressBar> bar;
  GuestOutput out;
  // Runs on the call's thread when the header arrives: refuse (EOF on the
  // guest's stdin makes it exit quietly) or say "go" and start extracting.
  auto decide = [&](const std::string& line) -> Status {
    ASSIGN_OR_RETURN(GuestHeader h, ParseHeader(line));
    if (h.word.size() != plan.sources.size()) return Internal("cp: the guest's header does not match the sources");
    if (plan.stdio) return Status::Ok();
    std::vector<SourceInfo> infos;
    MemberMap map;
    for (size_t i = 0; i < plan.sources.size(); ++i) {
      SourceRoot root = SplitSource(plan.sources[i]);
      infos.push_back({h.word[i] == 'd' ? SrcKind::kDir : SrcKind::kFile, root.contents()});
      map.any_root = map.any_root || root.contents();
      map.roots.push_back(root.name);
    }
    ASSIGN_OR_RETURN(map.placement, Place(plan.dst, plan.dst, state, infos));
    map.rename_to = BaseOf(plan.dst);
    std::string base = map.placement == Placement::kInto ? plan.dst : ParentOf(plan.dst);
    bar.emplace(o.progress, h.total);
    extractor = std::thread([&, base, map] {
      extracted = ExtractArchive(data.r.get(), base, map, &*bar);
      data.r.Reset();  // a refused member stops the copy: the next write fails
    });
    return Status::Ok();
  };
  // A tar on stdout is a tree by nature (docker cp VM:DIR - needs no flag).
  GuestRun run{DownloadArgv(plan.vm, o.recursive || plan.stdio, o.progress, plan.sources), in.r.get(),
               [&](uint8_t channel, std::string_view bytes) {
                 if (channel != 1) {
                   out.Err(bytes);
                   return true;
                 }
                 bool had_header = out.header_done;
                 std::string_view rest;
                 if (!out.Feed(bytes, &rest)) return false;
                 if (out.header_done && !had_header) {
                   decision = decide(out.header);
                   if (decision.ok()) WriteFully(in.w.get(), "go\n");
                   in.w.Reset();
                   if (!decision.ok()) return false;
                 }
                 if (rest.empty()) return true;
                 return WriteFully(plan.stdio ? 1 : data.w.get(), rest);
               }};
  Result<int> code = exec(run);
  in.w.Reset();
  data.w.Reset();
  if (extractor.joinable()) extractor.join();
  if (bar) bar->Finish();
  if (!decision.ok()) return decision;
  if (!extracted.ok()) return extracted;
  if (!code.ok()) return code.error();
  if (*code != 0) return GuestFailed(plan.vm, *code, out.err);
  if (!out.err.empty()) std::fwrite(out.err.data(), 1, out.err.size(), stderr);
  return Status::Ok();
}

}  // namespace warren::cli::cp
