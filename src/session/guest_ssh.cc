#include "session/guest_ssh.h"

namespace warren {
namespace {

bool IsShellSafe(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("_-./:,+=@%").find(c) != std::string_view::npos;
}

void AppendQuoted(std::string_view word, std::string& out) {
  bool safe = !word.empty();
  for (char c : word) safe = safe && IsShellSafe(c);
  if (safe) {
    out.append(word);
    return;
  }
  out.push_back('\'');
  for (char c : word) {
    if (c == '\'') {
      out.append("'\\''");  // close the quote, an escaped quote, reopen
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\'');
}

}  // namespace

std::string ShellQuote(const std::vector<std::string>& argv) {
  std::string out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i > 0) out.push_back(' ');
    AppendQuoted(argv[i], out);
  }
  return out;
}

}  // namespace warren
