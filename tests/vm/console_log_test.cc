#include "vm/console_log.h"

#include <gtest/gtest.h>

#include <fstream>

#include "sys/test_util.h"

namespace warren {
namespace {

std::filesystem::path WriteLog(const TempDir &dir, const std::string &text) {
  std::filesystem::path p = dir.path() / "serial.log";
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

TEST(ConsoleLogTailTest, LastLinesCleanedForATerminal) {
  TempDir dir;
  std::string text = "one\r\ntwo\r\n\r\n\x1b[0;32m  OK  \x1b[0m] Started ssh\r\n"
                     "tab\there\x07 bell\r\nprogress 10%\rprogress 100%\r\n\n";
  EXPECT_EQ(ConsoleLogTail(WriteLog(dir, text), 3),
            "  OK  ] Started ssh\ntab here bell\nprogress 100%");
  EXPECT_EQ(ConsoleLogTail(WriteLog(dir, text), 0), "");
}

TEST(ConsoleLogTailTest, LongLinesAreCutAtACharacterBoundary) {
  TempDir dir;
  // "é" is two bytes; a cut at 5 bytes would split the third one.
  EXPECT_EQ(ConsoleLogTail(WriteLog(dir, "ééé\n"), 15, 5), "éé");
  EXPECT_EQ(ConsoleLogTail(WriteLog(dir, std::string(500, 'x') + "\n"), 15, 160),
            std::string(160, 'x'));
}

TEST(ConsoleLogTailTest, ReadsOnlyTheEndOfABigLog) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 100000; ++i) text += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(ConsoleLogTail(WriteLog(dir, text), 2), "line 99998\nline 99999");
}

TEST(ConsoleLogTailTest, MissingOrEmptyLogIsEmpty) {
  TempDir dir;
  EXPECT_EQ(ConsoleLogTail(dir.path() / "nope"), "");
  EXPECT_EQ(ConsoleLogTail(WriteLog(dir, "")), "");
}

TEST(WithConsoleLogTest, AppendsTheTailNamingWhereTheLogIs) {
  TempDir dir;
  std::filesystem::path log = WriteLog(dir, "a\nb\n");
  Status st = WithConsoleLog(DeadlineExceeded("no SSH"), log, "/kept/web.log");
  EXPECT_EQ(st.code(), Code::kDeadlineExceeded);
  EXPECT_EQ(st.message(), "no SSH\nconsole log /kept/web.log (last lines):\n  | a\n  | b");
  EXPECT_EQ(WithConsoleLog(Unavailable("gone"), dir.path() / "none", "/x").message(),
            "gone; the console log /x is empty");
  EXPECT_TRUE(WithConsoleLog(Status::Ok(), log, log).ok());
}

}  // namespace
}  // namespace warren
