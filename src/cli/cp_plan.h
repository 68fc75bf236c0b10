#pragma once

// `warren cp`: the pure half. Argument parsing (VM:PATH), docker cp's
// destination rules, archive member naming and the guest-side shell scripts
// with their argv. No I/O here, so every rule has a unit test
// (tests/cli/cp_plan_test.cc); commands_cp.cc does the moving.
//
// The protocol of one copy, over one `vm.exec` of `sh -c SCRIPT ARGS...`:
//   guest → stdout: "warren-cp 1 FLAVOUR STATE...\n" (the guest's tar and what
//                   it found: the destination's state, or the sources' kinds)
//   host  → stdin:  the host's decision, one line ("into" / "rename" / "go";
//                   anything else, or EOF, makes the guest exit quietly)
//   then the tar stream, host → guest (upload) or guest → host (download).
// Every path is a positional argument of a fixed script, never spliced into
// shell text, so any byte string is safe as a path.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace warren::cli::cp {

// One command-line operand: "-" (a tar stream on stdin/stdout), "VM:PATH", or
// a host path. A host path that contains ':' can be written "./a:b" (as with
// docker cp): an operand is a VM's only when the text before the first ':' is
// a VM name (a-z, 0-9, '-') and it does not start with '/' or '.'.
struct Endpoint {
  std::string vm;  // empty: the host
  std::string path;
  bool stdio = false;
};
Endpoint ParseEndpoint(std::string_view arg);

enum class Direction { kToGuest, kFromGuest };
struct Plan {
  Direction direction = Direction::kToGuest;
  std::string vm;
  std::vector<std::string> sources;  // paths (host or guest side)
  std::string dst;
  bool stdio = false;  // the host side is "-": a tar on stdin (upload) or stdout (download)
};
// `args` = SRC... DST. InvalidArgument names what is wrong: both sides on the
// host, two VMs, "-" mixed with paths, several sources with "-".
Result<Plan> MakePlan(const std::vector<std::string>& args);

// A source split into the directory to archive from and the member name of its
// root: "a/b" → {"a", "b"}; "a/b/" → {"a", "b"}; "a/b/." (docker's "contents
// of") and "/" → name ".": the directory's entries, not the directory itself.
struct SourceRoot {
  std::string dir;
  std::string name;
  bool contents() const { return name == "."; }
};
SourceRoot SplitSource(std::string_view path);
// dirname / basename with POSIX meaning, trailing slashes ignored.
std::string ParentOf(std::string_view path);
std::string BaseOf(std::string_view path);
// A path safe as the operand of `cd`/`test` in a guest script: "-x" → "./-x"
// (never an option or `cd -`), "" → ".".
std::string ShellOperand(std::string_view path);

// docker cp's destination rules, on either side.
enum class DstState { kDir, kNotDir, kMissing, kNoParent };
enum class SrcKind { kFile, kDir, kTarStream };  // a symlink source is copied as a link: kFile
struct SourceInfo {
  SrcKind kind = SrcKind::kFile;
  bool contents = false;  // "DIR/.": its entries
};
enum class Placement {
  kInto,    // extract in DST (DST/<name>, or DST/<entries> for "DIR/.")
  kRename,  // extract in DST's parent, the root renamed to DST's basename
};
// `dst` is the path as the user wrote it (a trailing '/' demands a directory).
// The error names `shown` (e.g. "web:/srv/x").
Result<Placement> Place(std::string_view dst, std::string_view shown, DstState state,
                        const std::vector<SourceInfo>& sources);

// Maps an archive member name to its name relative to the extraction base.
// Leading "./" and "/" are dropped; ".." anywhere is refused (the guest is not
// trusted); the first component must be one of `roots` unless `any_root`.
// kRename replaces the first component by `rename_to`. Returns "" for a
// member to skip: the root of a "DIR/." source extracted in place (DST's own
// mode and mtime stay).
struct MemberMap {
  Placement placement = Placement::kInto;
  std::string rename_to;
  std::vector<std::string> roots;
  bool any_root = false;
};
Result<std::string> MapMember(std::string_view member, const MemberMap& map);

// The guest's reply line, "warren-cp 1 FLAVOUR WORD [WORD]".
struct GuestHeader {
  std::string flavour;  // "gnu", "bsd" (both read and write sparse files), "busybox"
  std::string word;     // upload: dir|notdir|missing|noparent; download: one kind letter per source (f|d)
  int64_t total = -1;   // download: bytes to copy when the guest could tell (GNU du)
};
Result<GuestHeader> ParseHeader(std::string_view line);
DstState ParseDstState(std::string_view word);  // CHECKs a valid word (ParseHeader checked it)

// argv for vm.exec. `label` prefixes the guest's messages ("web").
std::vector<std::string> UploadArgv(std::string_view label, std::string_view dst,
                                    const std::vector<std::string>& top_names);
std::vector<std::string> DownloadArgv(std::string_view label, bool recursive, bool want_total,
                                      const std::vector<std::string>& sources);

}  // namespace warren::cli::cp
