#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "base/status.h"
#include "sys/unique_fd.h"

namespace warren {

// Asks ipv4:port for the A record of `name` over UDP on `sock` (an unbound
// AF_INET datagram socket: plain, or made inside a namespace with
// OpenSocketIn) and returns the first address. `doctor` uses it to prove a
// listener answers. Errors: DeadlineExceeded (no answer), NotFound (NXDOMAIN
// or no A), Unavailable (refused / malformed answer).
Result<std::string> ProbeDnsA(UniqueFd sock, const std::string& ipv4, uint16_t port,
                              const std::string& name, std::chrono::milliseconds timeout);

}  // namespace warren
