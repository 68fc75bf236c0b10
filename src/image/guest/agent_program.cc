// The guest agent program (warren-agent.c, built static by the image
// library's CMakeLists), embedded whole: the builder installs it in every
// image, and its digest is part of each image's cache key.
#include "image/guest/assets.h"
#include "image/guest/agent_program_sha256.h"

// The path is the build's; the digest above changes this file's text (and so
// any compiler cache's key) whenever the program does.
asm(".pushsection .rodata\n"
    ".balign 16\n"
    "warren_guest_agent_begin:\n"
    ".incbin \"" WARREN_GUEST_AGENT_PATH "\"\n"
    "warren_guest_agent_end:\n"
    ".popsection\n");

extern "C" const char warren_guest_agent_begin[];
extern "C" const char warren_guest_agent_end[];

namespace warren {

std::string_view GuestAgentProgram() {
  static_assert(sizeof(WARREN_GUEST_AGENT_SHA256) == 65, "a SHA-256 in hex");
  return std::string_view(warren_guest_agent_begin,
                          static_cast<size_t>(warren_guest_agent_end - warren_guest_agent_begin));
}

}  // namespace warren
