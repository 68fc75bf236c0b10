#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "base/status.h"
#include "sys/unique_fd.h"

namespace warren {

class NetnsHandle;

// Makes a TCP socket connected to ip:port within `timeout`, in whichever
// network namespace the factory is bound to. Errors: Unavailable for refused,
// unreachable or timed out (the guest is not up yet); InvalidArgument for an
// unparsable ip; Internal otherwise. The socket is returned non-blocking.
using SocketFactory = std::function<Result<UniqueFd>(const std::string& ip, int port,
                                                     std::chrono::milliseconds timeout)>;

// Connects `sock` (an unconnected, non-blocking TCP socket of the ip's family)
// to ip:port, waiting at most `timeout`. Errors as SocketFactory's.
Result<UniqueFd> ConnectWithTimeout(UniqueFd sock, const std::string& ip, int port,
                                    std::chrono::milliseconds timeout);

// Sockets in the calling thread's namespace (tests, `host` network mode).
SocketFactory HostSocketFactory();

// Sockets created inside `ns` (the daemon's VM namespace, where guest IPs
// live). `ns` must outlive the factory and every copy of it.
SocketFactory NetnsSocketFactory(const NetnsHandle& ns);

}  // namespace warren
