#include "sys/ksm.h"

#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>

namespace warren {
namespace {

bool ReadNumber(const std::filesystem::path& file, uint64_t* out) {
  std::ifstream in(file);
  return static_cast<bool>(in >> *out);
}

}  // namespace

uint64_t KsmState::saved_bytes() const {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return pages_sharing > pages_shared ? (pages_sharing - pages_shared) * page : 0;
}

KsmState ReadKsm(const std::filesystem::path& dir) {
  KsmState s;
  uint64_t run = 0;
  if (dir.empty() || !ReadNumber(dir / "run", &run)) return s;
  s.available = true;
  s.run = static_cast<int>(run);
  ReadNumber(dir / "pages_shared", &s.pages_shared);
  ReadNumber(dir / "pages_sharing", &s.pages_sharing);
  return s;
}

Status EnableKsm(const std::filesystem::path& dir) {
  const KsmState now = ReadKsm(dir);
  if (!now.available) {
    return FailedPrecondition("KSM: " + (dir / "run").string() +
                              " cannot be read (a kernel without CONFIG_KSM?); set [vm] ksm = "
                              "false");
  }
  if (now.run == 1) return Status::Ok();
  std::ofstream out(dir / "run");
  out << "1\n";
  out.flush();
  if (!out) {
    return ErrnoError("KSM: cannot write 1 to " + (dir / "run").string() +
                          " (the daemon must run as root with /sys writable; or turn it on "
                          "yourself, or set [vm] ksm = false)",
                      errno);
  }
  return Status::Ok();
}

}  // namespace warren
