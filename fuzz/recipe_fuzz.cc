// Feeds arbitrary bytes to the image recipe parser (user-supplied TOML sent
// over RPC). Must never crash, hang or throw; errors are fine.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "image/recipe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto recipe = warren::ParseRecipe(text, "fuzz.toml");
  if (recipe.ok()) (void)warren::CacheKey("image", *recipe);
  return 0;
}
