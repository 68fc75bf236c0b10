#include "image/builder_kernel.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace warren::build {
namespace {

using ::testing::HasSubstr;

std::string Le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}
std::string Le16(uint16_t v) { return Le32(v).substr(0, 2); }
std::string Le64(uint64_t v) { return Le32(static_cast<uint32_t>(v)) + Le32(v >> 32); }

const std::string kMagic = Le32(0x184C2102);

// A legacy frame holding `blocks`, each an LZ4 block.
std::string Frame(const std::vector<std::string>& blocks) {
  std::string f = kMagic;
  for (const std::string& b : blocks) f += Le32(static_cast<uint32_t>(b.size())) + b;
  return f;
}

TEST(Lz4LegacyTest, LiteralsAndOverlappingMatches) {
  // "abc" then a 9-byte match at offset 3 (overlaps itself), then literals "!".
  std::string block = std::string("\x35") + "abc" + Le16(3) + "\x10" + "!";
  Result<std::string> out = Lz4LegacyDecompress(Frame({block}), 1 << 20);
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_EQ(*out, "abcabcabcabc!");
}

TEST(Lz4LegacyTest, LongRunsUseExtensionBytesAcrossBlocks) {
  // 20 literals (15 + 5), then a 4 + 15 + 255 + 1 = 275-byte match at offset 1.
  std::string lits(20, 'x');
  std::string block1 = std::string("\xff") + "\x05" + lits + Le16(1) + "\xff\x01";
  std::string block2 = std::string("\x20") + "ok";
  // The kernel build appends the uncompressed size after the frame.
  Result<std::string> out =
      Lz4LegacyDecompress(Frame({block1, block2}) + Le32(20 + 275 + 2), 1 << 20);
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_EQ(*out, std::string(295, 'x') + "ok");
}

TEST(Lz4LegacyTest, RejectsMalformedStreams) {
  auto bad = [](const std::string& frame) {
    return Lz4LegacyDecompress(frame, 1 << 20).error().code() == Code::kInvalidArgument;
  };
  EXPECT_TRUE(bad("not lz4"));
  EXPECT_TRUE(bad(Frame({std::string("\x50") + "abc"})));           // literals past the end
  EXPECT_TRUE(bad(Frame({std::string("\x10") + "a" + Le16(2)})));   // offset before the start
  EXPECT_TRUE(bad(Frame({std::string("\x10") + "a" + Le16(0)})));   // offset 0
  EXPECT_TRUE(bad(kMagic + Le32(100) + "short" + "more bytes"));    // block past the end
  EXPECT_EQ(Lz4LegacyDecompress(Frame({std::string("\x1f") + "a" + Le16(1) + "\xff\xff\x10"}), 64)
                .error()
                .code(),
            Code::kInvalidArgument)
      << "output over max_out";
}

// A minimal x86-64 ELF executable with one PT_NOTE segment holding `note_type`
// under the name "Xen".
std::string Elf(uint32_t note_type) {
  std::string note = Le32(4) + Le32(4) + Le32(note_type) + std::string("Xen\0", 4) + Le32(0x1000);
  std::string eh = "\x7f" "ELF";
  eh += std::string("\x02\x01\x01", 3) + std::string(9, '\0');
  eh += Le16(2) + Le16(62) + Le32(1) + Le64(0) + Le64(64) + Le64(0) + Le32(0);
  eh += Le16(64) + Le16(56) + Le16(1) + Le16(64) + Le16(0) + Le16(0);
  std::string ph = Le32(4) + Le32(4) + Le64(64 + 56) + Le64(0) + Le64(0) +
                   Le64(note.size()) + Le64(note.size()) + Le64(4);
  return eh + ph + note;
}

// A bzImage shell: one setup sector plus the boot sector, the setup header
// fields ExtractPvhVmlinux reads, then `payload` as the protected-mode part.
std::string BzImage(const std::string& payload, uint16_t version = 0x20f) {
  std::string bz(1024, '\0');
  bz[0x1f1] = 1;  // setup_sects
  bz.replace(0x202, 4, "HdrS");
  bz.replace(0x206, 2, Le16(version));
  bz.replace(0x248, 4, Le32(0));
  bz.replace(0x24c, 4, Le32(static_cast<uint32_t>(payload.size())));
  return bz + payload;
}

std::string Lz4Payload(const std::string& data) {
  // One literal-only block: token 0xf0, then the length extension bytes.
  std::string block = "\xf0";
  size_t rest = data.size() - 15;
  for (; rest >= 255; rest -= 255) block += '\xff';
  block += static_cast<char>(rest);
  block += data;
  return Frame({block}) + Le32(static_cast<uint32_t>(data.size()));
}

TEST(ExtractPvhVmlinuxTest, UnpacksAnLz4PayloadWithAPvhNote) {
  std::string elf = Elf(18);
  ASSERT_TRUE(IsPvhElf(elf));
  Result<std::string> out = ExtractPvhVmlinux(BzImage(Lz4Payload(elf)));
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_EQ(*out, elf);
}

TEST(ExtractPvhVmlinuxTest, RefusesWhatItCannotBoot) {
  std::string elf = Elf(18);
  EXPECT_EQ(ExtractPvhVmlinux("kernel").error().code(), Code::kInvalidArgument);
  Result<std::string> no_pvh = ExtractPvhVmlinux(BzImage(Lz4Payload(Elf(17))));
  EXPECT_EQ(no_pvh.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(no_pvh.error().message(), HasSubstr("PVH"));
  Result<std::string> gzip = ExtractPvhVmlinux(BzImage("\x1f\x8b\x08\x00" + elf));
  EXPECT_EQ(gzip.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(gzip.error().message(), HasSubstr("LZ4"));
  EXPECT_EQ(ExtractPvhVmlinux(BzImage(Lz4Payload(elf), 0x206)).error().code(),
            Code::kFailedPrecondition);
  std::string wrong_size = Lz4Payload(elf);
  wrong_size.replace(wrong_size.size() - 4, 4, Le32(1));
  EXPECT_EQ(ExtractPvhVmlinux(BzImage(wrong_size)).error().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace warren::build
