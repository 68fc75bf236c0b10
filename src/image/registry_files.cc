// Image names and the checks `warren image register` applies to user files.
#include <fstream>
#include <string>

#include "image/registry.h"

namespace warren {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kKernelMin = 1 * kMiB;
constexpr uint64_t kKernelMax = 256 * kMiB;
constexpr uint64_t kExt4Min = 1 * kMiB;
constexpr size_t kExt4MagicOffset = 1024 + 56;
constexpr size_t kBzImageMagicOffset = 0x202;

bool HasAt(std::string_view data, size_t offset, std::string_view magic) {
  return data.size() >= offset + magic.size() && data.substr(offset, magic.size()) == magic;
}

Status FileError(std::string_view role, const fs::path& path, std::string_view problem) {
  return InvalidArgument(std::string(role) + " " + path.string() + ": " + std::string(problem));
}

// Checks `path` is an existing, readable regular file of min..max bytes and
// returns its first `head` bytes (fewer when the file is shorter).
Result<std::string> ReadHead(std::string_view role, const fs::path& path, uint64_t min,
                             uint64_t max, size_t head) {
  if (!path.is_absolute()) return FileError(role, path, "path must be absolute");
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return FileError(role, path, "no such file");
  if (fs::is_directory(st)) return FileError(role, path, "is a directory, expected a file");
  if (!fs::is_regular_file(st)) return FileError(role, path, "is not a regular file");
  uint64_t size = fs::file_size(path, ec);
  if (ec) return FileError(role, path, "cannot read its size: " + ec.message());
  if (size < min || size > max) {
    std::string range =
        max == UINT64_MAX ? "at least " + std::to_string(min / kMiB) + " MiB"
                          : std::to_string(min / kMiB) + ".." + std::to_string(max / kMiB) + " MiB";
    return FileError(role, path,
                     "size " + std::to_string(size) + " bytes is out of range (" + range + ")");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return FileError(role, path, "cannot be opened for reading by the daemon");
  std::string data(head, '\0');
  in.read(data.data(), static_cast<std::streamsize>(head));
  data.resize(static_cast<size_t>(in.gcount()));
  return data;
}

bool IsCompressed(std::string_view d) {
  return HasAt(d, 0, "\x1f\x8b") ||
         HasAt(d, 0,
               std::string_view("\xfd"
                                "7zXZ\0",
                                6)) ||
         HasAt(d, 0, "\x28\xb5\x2f\xfd") || HasAt(d, 0, "BZh");
}

bool LooksLikeTarName(const fs::path& path) {
  std::string name = path.filename().string();
  for (std::string_view ext : {".tgz", ".tbz2", ".txz", ".tzst", ".tar"}) {
    if (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0) {
      return true;
    }
  }
  return name.find(".tar.") != std::string::npos;
}

}  // namespace

Status ValidateImageName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 63 && name.front() != '-' && name.back() != '-';
  for (char c : name) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (ok) return Status::Ok();
  return InvalidArgument("bad image name \"" + std::string(name) +
                         "\": use 1-63 characters from a-z, 0-9 and '-', not starting or "
                         "ending with '-'");
}

Status CheckKernelFile(const fs::path& path) {
  ASSIGN_OR_RETURN(std::string head,
                   ReadHead("kernel", path, kKernelMin, kKernelMax, kBzImageMagicOffset + 4));
  if (HasAt(head, kBzImageMagicOffset, "HdrS") || HasAt(head, 0,
                                                        "\x7f"
                                                        "ELF")) {
    return Status::Ok();
  }
  return FileError("kernel", path,
                   "not a Linux kernel (no bzImage \"HdrS\" signature at "
                   "offset 0x202, not ELF)");
}

Result<RootfsKind> CheckRootfsFile(const fs::path& path) {
  ASSIGN_OR_RETURN(std::string head, ReadHead("rootfs", path, 0, UINT64_MAX, 4096));
  if (HasAt(head, kExt4MagicOffset, "\x53\xef")) {
    RETURN_IF_ERROR(ReadHead("rootfs", path, kExt4Min, UINT64_MAX, 0).status());
    return RootfsKind::kExt4;
  }
  if (HasAt(head, 257, "ustar") || (IsCompressed(head) && LooksLikeTarName(path))) {
    return RootfsKind::kTarball;
  }
  return FileError("rootfs", path,
                   "neither an ext4 filesystem (no superblock magic 0xEF53 at "
                   "offset 1080) nor "
                   "a tar archive (.tar, .tar.gz, .tgz, .tar.xz, .tar.zst)");
}

Status CheckInitrdFile(const fs::path& path) {
  ASSIGN_OR_RETURN(std::string head, ReadHead("initrd", path, 1, kKernelMax, 8));
  if (IsCompressed(head) || HasAt(head, 0, "\x04\x22\x4d\x18") ||
      HasAt(head, 0, "\x02\x21\x4c\x18") || HasAt(head, 0, "070701") || HasAt(head, 0, "070702")) {
    return Status::Ok();
  }
  return FileError("initrd", path,
                   "not an initramfs (expected a newc cpio archive or gzip, "
                   "zstd, lz4, xz or "
                   "bzip2 data)");
}

}  // namespace warren
