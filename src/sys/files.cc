#include "sys/files.h"

#include <cerrno>
#include <fstream>
#include <sstream>

namespace warren {

Result<std::string> ReadFileToString(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("open " + path.string(), errno);
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return ErrnoError("read " + path.string(), errno);
  return s.str();
}

}  // namespace warren
