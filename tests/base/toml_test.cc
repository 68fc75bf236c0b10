#include "base/toml.h"

#include <gtest/gtest.h>

#include <string>

namespace {

// Inputs our fuzzers found reaching toml++'s "unreachable" branches. Parsing
// them must fail cleanly (UBSan in CI aborts on the undefined behaviour).
TEST(TomlTest, FuzzFoundInputsFailCleanly) {
  for (std::string input : {std::string("a = 1\n\xef\xb3\xbf\x16"), std::string("a = 0_'x\xcc\xa0'\n"),
                            std::string("t=01\x03p0='\xef\xbb\xbd\x0e" "EE"),
                            std::string("6=-[[\"\x08" "6+\xef\xb3\xbf\n")}) {
    EXPECT_THROW((void)toml::parse(input), toml::parse_error);
  }
  // Valid, and also through the classifier: a line-ending backslash followed by
  // a non-ASCII character in a multi-line string.
  toml::table t = toml::parse("a = \"\"\"x\\\n  \xc3\xa9\"\"\"\n");
  EXPECT_EQ(t["a"].value<std::string>(), "x\xc3\xa9");
}

TEST(TomlTest, NonAsciiInStringsStillParses) {
  toml::table t = toml::parse("a = \"caf\xc3\xa9\" # \xc3\xa9\nb = '\xce\xb1'\n");
  EXPECT_EQ(t["a"].value<std::string>(), "caf\xc3\xa9");
  EXPECT_EQ(t["b"].value<std::string>(), "\xce\xb1");
}

}  // namespace
