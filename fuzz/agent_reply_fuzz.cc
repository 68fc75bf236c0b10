// Feeds arbitrary bytes, as a guest would write them, to the host end of the
// guest agent protocol: the reply parser alone, then a whole Ping reading the
// bytes from a socketpair. Must never crash, hang or throw; errors are fine.
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "vm/guest_agent.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)warren::ParseAgentReply(text);
  // Within one socket buffer, so the write below never blocks.
  if (size > 64 * 1024) return 0;
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 0;
  if (size > 0 && ::write(sv[1], data, size) != static_cast<ssize_t>(size)) {
    ::close(sv[0]);
    ::close(sv[1]);
    return 0;
  }
  ::close(sv[1]);  // the guest end closes: every read ends
  auto agent = warren::GuestAgentOverFd(warren::UniqueFd(sv[0]));
  (void)agent->Ping(std::chrono::milliseconds(100));
  return 0;
}
