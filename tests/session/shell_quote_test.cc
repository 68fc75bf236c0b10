#include <gtest/gtest.h>

#include "session/guest_ssh.h"

namespace warren {
namespace {

TEST(ShellQuoteTest, SafeWordsStayBare) {
  EXPECT_EQ(ShellQuote({"echo", "hi"}), "echo hi");
  EXPECT_EQ(ShellQuote({"/usr/bin/env", "A=b", "x.y-z_1", "a,b:c@d%e+f"}),
            "/usr/bin/env A=b x.y-z_1 a,b:c@d%e+f");
}

TEST(ShellQuoteTest, EmptyArgvAndEmptyWord) {
  EXPECT_EQ(ShellQuote({}), "");
  EXPECT_EQ(ShellQuote({"printf", ""}), "printf ''");
}

TEST(ShellQuoteTest, MetacharactersAreQuoted) {
  EXPECT_EQ(ShellQuote({"sh", "-c", "exit 3"}), "sh -c 'exit 3'");
  EXPECT_EQ(ShellQuote({"echo", "$HOME", "a;b", "`x`", "*", "a\nb"}),
            "echo '$HOME' 'a;b' '`x`' '*' 'a\nb'");
}

TEST(ShellQuoteTest, SingleQuotesAreEscaped) {
  EXPECT_EQ(ShellQuote({"echo", "it's"}), "echo 'it'\\''s'");
  EXPECT_EQ(ShellQuote({"'"}), "''\\'''");
}

TEST(ShellQuoteTest, BackslashAndDoubleQuoteNeedNoEscapeInsideSingleQuotes) {
  EXPECT_EQ(ShellQuote({"a\\b", "\"q\""}), "'a\\b' '\"q\"'");
}

}  // namespace
}  // namespace warren
