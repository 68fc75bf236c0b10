#include "vm/console_log.h"

#include <algorithm>
#include <deque>
#include <fstream>
#include <string_view>

namespace warren {
namespace {

constexpr std::streamoff kTailBytes = 64 << 10;

std::string ReadTail(const std::filesystem::path &log) {
  std::ifstream in(log, std::ios::binary);
  if (!in)
    return {};
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size <= 0)
    return {};
  std::streamoff start = std::max<std::streamoff>(0, size - kTailBytes);
  in.seekg(start);
  std::string data(static_cast<size_t>(size - start), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  if (start > 0) {
    // The first line is probably cut: drop it.
    size_t nl = data.find('\n');
    data.erase(0, nl == std::string::npos ? data.size() : nl + 1);
  }
  return data;
}

// One raw line made printable: escape sequences (CSI "ESC [ ... final", or
// ESC + one byte) and other control characters removed, tabs become spaces,
// trailing blanks trimmed, cut to `width` bytes at a UTF-8 boundary.
std::string CleanLine(std::string_view raw, size_t width) {
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c == 0x1b) {
      if (i + 1 < raw.size() && raw[i + 1] == '[') {
        i += 2;
        while (i < raw.size() && !(raw[i] >= 0x40 && raw[i] <= 0x7e))
          ++i;
      } else {
        ++i;
      }
      continue;
    }
    if (c == '\t')
      out += ' ';
    else if (c >= 0x20 && c != 0x7f)
      out += static_cast<char>(c);
  }
  if (out.size() > width) {
    size_t cut = width;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80)
      --cut;
    out.resize(cut);
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

} // namespace

std::string ConsoleLogTail(const std::filesystem::path &log, int max_lines,
                           size_t max_width) {
  std::string data = ReadTail(log);
  std::deque<std::string> lines;
  size_t begin = 0;
  while (begin < data.size()) {
    size_t end = data.find('\n', begin);
    if (end == std::string::npos)
      end = data.size();
    // A carriage return inside a line (progress output) keeps what was
    // written after it, as a terminal would show it.
    std::string_view raw(data.data() + begin, end - begin);
    while (!raw.empty() && raw.back() == '\r')
      raw.remove_suffix(1);
    if (size_t cr = raw.rfind('\r'); cr != std::string_view::npos)
      raw.remove_prefix(cr + 1);
    std::string line = CleanLine(raw, max_width);
    if (!line.empty()) {
      lines.push_back(std::move(line));
      if (lines.size() > static_cast<size_t>(std::max(max_lines, 0)))
        lines.pop_front();
    }
    begin = end + 1;
  }
  std::string out;
  for (const std::string &line : lines) {
    if (!out.empty())
      out += '\n';
    out += line;
  }
  return out;
}

Status WithConsoleLog(const Status &st, const std::filesystem::path &read_from,
                      const std::filesystem::path &shown) {
  if (st.ok())
    return st;
  std::string tail = ConsoleLogTail(read_from);
  if (tail.empty()) {
    return Status(st.code(), st.message() + "; the console log " +
                                 shown.string() + " is empty");
  }
  std::string out = st.message() + "\nconsole log " + shown.string() +
                    " (last lines):";
  size_t begin = 0;
  while (begin <= tail.size()) {
    size_t end = tail.find('\n', begin);
    if (end == std::string::npos)
      end = tail.size();
    out += "\n  | " + tail.substr(begin, end - begin);
    begin = end + 1;
  }
  return Status(st.code(), out);
}

} // namespace warren
