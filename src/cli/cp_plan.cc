#include "cli/cp_plan.h"

#include <charconv>

namespace warren::cli::cp {
namespace {

// Finds the guest's tar (busybox's applet will do) and its flavour; says what
// to install when there is none. Shared by both scripts.
constexpr std::string_view kFindTar = R"SH(label=$1
fail() { printf 'warren: %s\n' "$*" >&2; exit 1; }
if command -v tar >/dev/null 2>&1; then T=tar
elif command -v busybox >/dev/null 2>&1 && busybox tar --help >/dev/null 2>&1; then T='busybox tar'
else
  printf 'warren: %s has no tar: install one in the guest (Debian: apt-get install tar; Alpine: apk add tar; or busybox)\n' "$label" >&2
  exit 127
fi
case $($T --version 2>/dev/null) in *'GNU tar'*) F=gnu ;; *bsdtar*) F=bsd ;; *) F=busybox ;; esac
)SH";

// Upload: $2 DST, $3 its parent, $4 its basename, then the names the archive's
// roots take in DST (for the busybox check). busybox tar writes through a
// symlink it finds where the archive has a directory (GNU tar replaces it), so
// with busybox a target tree that holds symlinks is refused, and a symlink
// standing where a file goes is removed first.
constexpr std::string_view kUpload = R"SH(dst=$2 parent=$3 base=$4; shift 4
if [ -d "$dst" ]; then s=dir
elif [ -e "$dst" ] || [ -L "$dst" ]; then s=notdir
elif [ -d "$parent" ]; then s=missing
else s=noparent; fi
echo "warren-cp 1 $F $s"
read -r how || exit 0
case $how in
  into) cd "$dst" || exit 1 ;;
  rename) cd "$parent" || exit 1; set -- "$base" ;;
  *) exit 0 ;;
esac
if [ "$F" = busybox ]; then
  for n do
    case $n in -*) n=./$n ;; esac
    if [ -L "$n" ] && ! [ -d "$n" ]; then rm -f "$n" || exit 1; fi
    if [ -e "$n" ] && [ -n "$(find "$n" -type l | head -n 1)" ]; then
      fail "$label: $n holds symlinks busybox tar would follow; install GNU tar in the guest, or remove $n first"
    fi
  done
  exec $T -x -o -f -
fi
exec $T -x -p -o -f -
)SH";

// Download: $2 recursive (1/0), $3 want a total (1/0), then per source: the
// path as the user wrote it, the directory to archive from, the root name.
// Each source becomes one tar stream; the host reads them concatenated.
constexpr std::string_view kDownload = R"SH(r=$2 want=$3; shift 3
kinds= paths= i=0
for a do
  i=$((i + 1))
  case $i in 1) shown=$a; continue ;; 2) d=$a; continue ;; esac
  i=0 nm=$a p=$d/$nm
  [ "$nm" = . ] && p=$d
  if [ -d "$p" ] && { [ "$nm" = . ] || ! [ -L "$p" ]; }; then
    [ "$r" = 1 ] || fail "$label:$shown: is a directory (use -r)"
    kinds=${kinds}d
  elif [ "$nm" = . ]; then fail "$label:$shown: not a directory"
  elif [ -e "$p" ] || [ -L "$p" ]; then kinds=${kinds}f
  else fail "$label:$shown: no such file or directory"; fi
done
total=-
if [ "$want" = 1 ] && [ "$F" = gnu ]; then
  total=$(for a do i=$((i + 1)); [ $i = 3 ] && { i=0; printf '%s\0' "$d/$a"; }; d=$a; done |
          du -s -b -c --files0-from=- 2>/dev/null | tail -n 1 | cut -f 1)
fi
echo "warren-cp 1 $F $kinds ${total:--}"
read -r go || exit 0
[ "$go" = go ] || exit 0
S=; [ "$F" = gnu ] && S="--sparse -b 256"
rc=0
for a do
  i=$((i + 1))
  case $i in 1) continue ;; 2) d=$a; continue ;; esac
  i=0
  if [ "$a" = . ]; then (cd "$d" && exec $T -c -f - $S .) || rc=$?
  else (cd "$d" && exec $T -c -f - $S "./$a") || rc=$?; fi
done
exit $rc
)SH";

bool IsVmNameChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

std::string_view TrimTrailingSlashes(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  return p;
}

std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    size_t j = line.find(' ', i);
    if (j == std::string_view::npos) j = line.size();
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

}  // namespace

Endpoint ParseEndpoint(std::string_view arg) {
  if (arg == "-") return {"", "-", true};
  size_t colon = arg.find(':');
  if (colon == std::string_view::npos || colon == 0 || arg.front() == '/' || arg.front() == '.') {
    return {"", std::string(arg), false};
  }
  for (char c : arg.substr(0, colon)) {
    if (!IsVmNameChar(c)) return {"", std::string(arg), false};
  }
  std::string path(arg.substr(colon + 1));
  if (path.empty()) path = ".";  // "web:" = the login directory, as scp reads "host:"
  return {std::string(arg.substr(0, colon)), path, false};
}

Result<Plan> MakePlan(const std::vector<std::string>& args) {
  if (args.size() < 2) return InvalidArgument("cp needs a source and a destination");
  Endpoint dst = ParseEndpoint(args.back());
  std::vector<Endpoint> srcs;
  for (size_t i = 0; i + 1 < args.size(); ++i) srcs.push_back(ParseEndpoint(args[i]));
  Plan plan;
  plan.direction = dst.vm.empty() ? Direction::kFromGuest : Direction::kToGuest;
  for (const Endpoint& s : srcs) {
    if (s.stdio && srcs.size() > 1) return InvalidArgument("cp: \"-\" must be the only source");
    if (s.stdio && dst.stdio) return InvalidArgument("cp: source and destination are both \"-\"");
    if (!s.vm.empty() && !dst.vm.empty()) {
      return InvalidArgument("cp copies between the host and a VM, not VM to VM (" +
                             args.front() + " → " + args.back() + ")");
    }
    if (s.vm.empty() && dst.vm.empty() && !s.stdio && !dst.stdio) {
      return InvalidArgument("cp: one side must be VM:PATH (a host path holding ':' is written ./" +
                             s.path + ")");
    }
    if (plan.direction == Direction::kFromGuest) {
      if (s.vm.empty()) return InvalidArgument("cp: " + s.path + " is on the host, like the destination");
      if (!plan.vm.empty() && s.vm != plan.vm) {
        return InvalidArgument("cp: the sources are in two VMs (" + plan.vm + ", " + s.vm + ")");
      }
      plan.vm = s.vm;
    }
    plan.sources.push_back(s.path);
  }
  if (dst.stdio && srcs.size() > 1) return InvalidArgument("cp: \"-\" takes one source");
  if (plan.direction == Direction::kToGuest) plan.vm = dst.vm;
  plan.dst = dst.path;
  plan.stdio = dst.stdio || srcs.front().stdio;
  return plan;
}

SourceRoot SplitSource(std::string_view path) {
  std::string_view p = TrimTrailingSlashes(path);
  if (p == "/") return {"/", "."};
  if (p == "." || p == ".." || p.ends_with("/.") || p.ends_with("/..")) {
    if (p.ends_with("/.")) p.remove_suffix(2);
    if (p.empty()) p = "/";
    return {std::string(p), "."};
  }
  return {ParentOf(p), BaseOf(p)};
}

std::string ParentOf(std::string_view path) {
  std::string_view p = TrimTrailingSlashes(path);
  size_t slash = p.rfind('/');
  if (slash == std::string_view::npos) return ".";
  std::string_view parent = TrimTrailingSlashes(p.substr(0, slash + 1));
  return parent.empty() ? "/" : std::string(parent);
}

std::string BaseOf(std::string_view path) {
  std::string_view p = TrimTrailingSlashes(path);
  if (p == "/") return "/";
  size_t slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

std::string ShellOperand(std::string_view path) {
  if (path.empty()) return ".";
  if (path.front() == '-') return "./" + std::string(path);
  return std::string(path);
}

Result<Placement> Place(std::string_view dst, std::string_view shown, DstState state,
                        const std::vector<SourceInfo>& sources) {
  const std::string where(shown);
  bool want_dir = dst.ends_with('/') || dst.ends_with("/.") || dst == "." || dst == "..";
  bool need_dir = sources.size() > 1 || sources.front().kind == SrcKind::kTarStream;
  if (state == DstState::kDir) return Placement::kInto;
  if (state == DstState::kNoParent) return NotFound(where + ": no such file or directory (nor its parent)");
  if (need_dir) {
    std::string why = sources.size() > 1 ? "several sources go into a directory"
                                          : "a tar stream is extracted into a directory";
    return FailedPrecondition(where + (state == DstState::kMissing ? ": no such directory (" : ": not a directory (") +
                              why + ")");
  }
  if (want_dir) {
    return FailedPrecondition(where + (state == DstState::kMissing ? ": no such directory" : ": not a directory"));
  }
  if (state == DstState::kNotDir && sources.front().kind == SrcKind::kDir) {
    return FailedPrecondition("cannot copy a directory to a file: " + where);
  }
  return Placement::kRename;
}

Result<std::string> MapMember(std::string_view member, const MemberMap& map) {
  std::string_view m = member;
  for (;;) {  // "./", "/", "//" in any order
    if (m.starts_with("./")) m.remove_prefix(2);
    else if (m.starts_with("/")) m.remove_prefix(1);
    else break;
  }
  if (m == ".") m = "";
  while (m.ends_with('/')) m.remove_suffix(1);
  std::vector<std::string_view> parts;
  for (size_t i = 0; i <= m.size() && !m.empty();) {
    size_t j = m.find('/', i);
    if (j == std::string_view::npos) j = m.size();
    std::string_view part = m.substr(i, j - i);
    if (part == "..") return InvalidArgument("archive member \"" + std::string(member) + "\" leaves its directory");
    if (!part.empty() && part != ".") parts.push_back(part);
    i = j + 1;
  }
  // A "DIR/." source's members are its entries: its root is "" and its first
  // component is any name; renamed, they all move under the new name.
  if (map.any_root) {
    std::string rest;
    for (std::string_view p : parts) rest += (rest.empty() ? "" : "/") + std::string(p);
    if (map.placement == Placement::kRename) return rest.empty() ? map.rename_to : map.rename_to + "/" + rest;
    return rest;
  }
  if (parts.empty()) return InvalidArgument("archive member \"" + std::string(member) + "\" has no name");
  bool known = false;
  for (const std::string& r : map.roots) known = known || parts.front() == r;
  if (!known) return InvalidArgument("archive member \"" + std::string(member) + "\" is not under a source");
  std::string out = map.placement == Placement::kRename ? map.rename_to : std::string(parts.front());
  for (size_t i = 1; i < parts.size(); ++i) out += "/" + std::string(parts[i]);
  return out;
}

Result<GuestHeader> ParseHeader(std::string_view line) {
  std::vector<std::string_view> w = Words(line);
  if (w.size() < 4 || w[0] != "warren-cp" || w[1] != "1") {
    return Internal("the guest answered \"" + std::string(line.substr(0, 80)) +
                    "\" instead of warren cp's header (is its shell a POSIX sh?)");
  }
  GuestHeader h{std::string(w[2]), std::string(w[3]), -1};
  if (w.size() >= 5 && w[4] != "-") {
    auto [end, ec] = std::from_chars(w[4].data(), w[4].data() + w[4].size(), h.total);
    if (ec != std::errc() || end != w[4].data() + w[4].size()) h.total = -1;
  }
  return h;
}

DstState ParseDstState(std::string_view word) {
  if (word == "dir") return DstState::kDir;
  if (word == "notdir") return DstState::kNotDir;
  if (word == "missing") return DstState::kMissing;
  return DstState::kNoParent;
}

std::vector<std::string> UploadArgv(std::string_view label, std::string_view dst,
                                    const std::vector<std::string>& top_names) {
  std::vector<std::string> argv = {"sh", "-c", std::string(kFindTar) + std::string(kUpload),
                                   "warren-cp", std::string(label), ShellOperand(dst),
                                   ShellOperand(ParentOf(dst)), BaseOf(dst)};
  argv.insert(argv.end(), top_names.begin(), top_names.end());
  return argv;
}

std::vector<std::string> DownloadArgv(std::string_view label, bool recursive, bool want_total,
                                      const std::vector<std::string>& sources) {
  std::vector<std::string> argv = {"sh", "-c", std::string(kFindTar) + std::string(kDownload),
                                   "warren-cp", std::string(label), recursive ? "1" : "0",
                                   want_total ? "1" : "0"};
  for (const std::string& s : sources) {
    SourceRoot root = SplitSource(s);
    argv.push_back(s);
    argv.push_back(ShellOperand(root.dir));
    argv.push_back(root.name);
  }
  return argv;
}

}  // namespace warren::cli::cp
