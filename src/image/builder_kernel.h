#pragma once

// Internal to the image builder: turning the distribution's compressed
// kernel (bzImage) into the uncompressed ELF vmlinux that QEMU boots through
// its PVH entry point. Under TCG the guest's own LZ4 decompression, plus the
// real-mode setup and the firmware's bzImage loader, cost 0.35-0.65 s of a
// ~4 s boot (docs/IMAGES.md); loading an ELF is a host-side copy.

#include <string>
#include <string_view>

#include "base/status.h"

namespace warren::build {

// Decompresses an LZ4 "legacy" frame (magic 0x184C2102, then blocks each
// prefixed by its 32-bit little-endian compressed size), the format Linux
// uses for CONFIG_KERNEL_LZ4. Stops at the end of `frame`; a trailing 32-bit
// field shorter than a block (the kernel build appends the uncompressed size)
// is ignored. Pure. Errors: InvalidArgument on a malformed stream or output
// over `max_out` bytes.
Result<std::string> Lz4LegacyDecompress(std::string_view frame, size_t max_out);

// True if `elf` is an x86-64 ELF executable with a Xen PVH entry note
// (XEN_ELFNOTE_PHYS32_ENTRY), i.e. something QEMU's -kernel boots directly.
bool IsPvhElf(std::string_view elf);

// The ELF vmlinux inside a bzImage (boot protocol >= 2.08, which records where
// its compressed payload is). Only LZ4 payloads are supported (Debian's x86
// kernels); the payload's trailing uncompressed size is checked. Pure.
// Errors: InvalidArgument (not a bzImage, malformed payload),
// FailedPrecondition (another compression, or no PVH entry note).
Result<std::string> ExtractPvhVmlinux(std::string_view bzimage);

}  // namespace warren::build
