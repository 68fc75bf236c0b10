#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "session/guest_ssh.h"

namespace warren {

// A guest that answers every command with exit 0 and no output.
class FakeGuestConnection final : public GuestConnection {
 public:
  Result<ExecResult> Exec(const std::vector<std::string>& argv, std::string_view,
                          std::stop_token) override {
    if (argv.empty()) return InvalidArgument("FakeGuestConnection: empty argv");
    return ExecResult{0, "", ""};
  }
};

// GuestDialer whose guests are always up (FakeGuestConnection), counting
// dials. Thread-safe.
class FakeGuestDialer final : public GuestDialer {
 public:
  Result<std::unique_ptr<GuestConnection>> Dial(const GuestEndpoint& endpoint,
                                                std::chrono::milliseconds) override {
    if (endpoint.host_public_key.rfind("ssh-ed25519 ", 0) != 0) {
      return InvalidArgument("FakeGuestDialer: no pinned host key in the endpoint");
    }
    ++dials_;
    return std::unique_ptr<GuestConnection>(std::make_unique<FakeGuestConnection>());
  }
  Result<std::unique_ptr<GuestConnection>> WaitForSsh(const GuestEndpoint& endpoint,
                                                      std::chrono::steady_clock::time_point,
                                                      std::stop_token) override {
    return Dial(endpoint, std::chrono::milliseconds(0));
  }
  int dials() const { return dials_.load(); }

 private:
  std::atomic<int> dials_{0};
};

}  // namespace warren
