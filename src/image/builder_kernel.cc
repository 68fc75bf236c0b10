#include "image/builder_kernel.h"

#include <cstdint>
#include <cstring>
#include <optional>

namespace warren::build {
namespace {

constexpr uint32_t kLz4LegacyMagic = 0x184C2102;
constexpr size_t kLz4LegacyBlockMax = 8 << 20;  // uncompressed bytes per block
constexpr size_t kMaxVmlinux = 512 << 20;

uint32_t Le32(std::string_view s, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}
uint16_t Le16(std::string_view s, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(s[at]) | static_cast<uint8_t>(s[at + 1]) << 8);
}
uint64_t Le64(std::string_view s, size_t at) {
  return static_cast<uint64_t>(Le32(s, at)) | static_cast<uint64_t>(Le32(s, at + 4)) << 32;
}

Status Bad(std::string_view why) { return InvalidArgument("lz4: " + std::string(why)); }

// One LZ4 block (the format of lz4_Block_format.md), appended to `out`.
Status Lz4Block(std::string_view in, std::string& out, size_t max_out) {
  size_t ip = 0;
  auto length = [&](size_t base) -> std::optional<size_t> {
    size_t n = base;
    if (base != 15) return n;
    uint8_t b;
    do {
      if (ip >= in.size()) return std::nullopt;
      b = static_cast<uint8_t>(in[ip++]);
      n += b;
    } while (b == 255);
    return n;
  };
  while (ip < in.size()) {
    uint8_t token = static_cast<uint8_t>(in[ip++]);
    std::optional<size_t> literals = length(token >> 4);
    if (!literals || *literals > in.size() - ip) return Bad("literal run past the block");
    if (out.size() + *literals > max_out) return Bad("output too large");
    out.append(in.substr(ip, *literals));
    ip += *literals;
    if (ip == in.size()) break;  // the last sequence has literals only
    if (in.size() - ip < 2) return Bad("truncated match offset");
    size_t offset = Le16(in, ip);
    ip += 2;
    if (offset == 0 || offset > out.size()) return Bad("match offset out of range");
    std::optional<size_t> match = length(token & 15);
    if (!match) return Bad("truncated match length");
    size_t n = *match + 4;
    if (out.size() + n > max_out) return Bad("output too large");
    size_t from = out.size() - offset;
    for (size_t i = 0; i < n; ++i) out.push_back(out[from + i]);  // may overlap itself
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> Lz4LegacyDecompress(std::string_view frame, size_t max_out) {
  if (frame.size() < 4 || Le32(frame, 0) != kLz4LegacyMagic) return Bad("no legacy frame magic");
  std::string out;
  size_t at = 4;
  while (frame.size() - at >= 4) {
    uint32_t size = Le32(frame, at);
    if (size == kLz4LegacyMagic) {  // concatenated frames
      at += 4;
      continue;
    }
    if (size > frame.size() - at - 4) {
      if (frame.size() - at == 4) break;  // the kernel's trailing size field
      return Bad("block past the end of the frame");
    }
    size_t before = out.size();
    RETURN_IF_ERROR(Lz4Block(frame.substr(at + 4, size), out, max_out));
    if (out.size() - before > kLz4LegacyBlockMax) return Bad("block larger than 8 MiB");
    at += 4 + size;
  }
  if (at != frame.size() && frame.size() - at != 4) return Bad("trailing bytes");
  return out;
}

bool IsPvhElf(std::string_view elf) {
  constexpr uint32_t kPtNote = 4;
  constexpr uint32_t kXenElfnotePhys32Entry = 18;
  if (elf.size() < 64 || elf.substr(0, 4) != "\x7f" "ELF" || elf[4] != 2 /* 64-bit */ ||
      elf[5] != 1 /* little endian */ || Le16(elf, 18) != 62 /* x86-64 */) {
    return false;
  }
  uint64_t phoff = Le64(elf, 32);
  uint16_t phentsize = Le16(elf, 54), phnum = Le16(elf, 56);
  if (phentsize < 56 || phoff > elf.size() || phnum > (elf.size() - phoff) / phentsize) {
    return false;
  }
  for (uint16_t i = 0; i < phnum; ++i) {
    size_t ph = phoff + size_t{i} * phentsize;
    if (Le32(elf, ph) != kPtNote) continue;
    uint64_t off = Le64(elf, ph + 8), size = Le64(elf, ph + 32);
    if (off > elf.size() || size > elf.size() - off) return false;
    std::string_view notes = elf.substr(off, size);
    size_t at = 0;
    auto align4 = [](uint64_t n) { return (n + 3) & ~uint64_t{3}; };
    while (notes.size() - at >= 12) {
      uint32_t namesz = Le32(notes, at), descsz = Le32(notes, at + 4), type = Le32(notes, at + 8);
      uint64_t next = at + 12 + align4(namesz) + align4(descsz);
      if (next > notes.size()) break;
      std::string_view name = notes.substr(at + 12, namesz);
      if (type == kXenElfnotePhys32Entry && name == std::string_view("Xen\0", 4)) return true;
      at = next;
    }
  }
  return false;
}

Result<std::string> ExtractPvhVmlinux(std::string_view bz) {
  // Offsets from the x86 boot protocol (Documentation/x86/boot.rst).
  if (bz.size() < 0x250 || bz.substr(0x202, 4) != "HdrS") {
    return InvalidArgument("kernel is not a bzImage (no HdrS setup header)");
  }
  uint16_t version = Le16(bz, 0x206);
  if (version < 0x208) {
    return FailedPrecondition("bzImage boot protocol " + std::to_string(version >> 8) + "." +
                              std::to_string(version & 0xff) +
                              " does not locate its payload (needs 2.08)");
  }
  size_t setup_sects = static_cast<uint8_t>(bz[0x1f1]);
  if (setup_sects == 0) setup_sects = 4;
  size_t start = (setup_sects + 1) * 512 + Le32(bz, 0x248);
  size_t length = Le32(bz, 0x24c);
  if (start > bz.size() || length > bz.size() - start || length < 8) {
    return InvalidArgument("bzImage payload lies outside the file");
  }
  std::string_view payload = bz.substr(start, length);
  if (Le32(payload, 0) != kLz4LegacyMagic) {
    return FailedPrecondition("bzImage payload is not LZ4-compressed (only LZ4 is unpacked)");
  }
  ASSIGN_OR_RETURN(std::string elf, Lz4LegacyDecompress(payload, kMaxVmlinux));
  if (elf.size() != Le32(payload, length - 4)) {
    return InvalidArgument("bzImage payload decompressed to " + std::to_string(elf.size()) +
                           " bytes, its trailer says " + std::to_string(Le32(payload, length - 4)));
  }
  if (!IsPvhElf(elf)) return FailedPrecondition("vmlinux has no PVH entry note");
  return elf;
}

}  // namespace warren::build
