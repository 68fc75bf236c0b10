// Feeds arbitrary bytes to the daemon config parser. Must never crash, hang or
// throw; errors are fine.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)warren::ParseConfig(text, "fuzz.toml");
  return 0;
}
