#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "dns/answer_cache.h"
#include "dns/records.h"
#include "dns/resolver.h"
#include "sys/unique_fd.h"

namespace warren {

struct DnsServerOptions {
  Zone zone;
  uint16_t max_udp = kDefaultMaxUdp;  // EDNS0 size we advertise and never exceed
  // TCP bounds: connections beyond the count are closed at accept; a connection silent for
  // the idle timeout is closed (zero disables); a length prefix above the max closes it.
  size_t max_tcp_connections = 64;
  std::chrono::milliseconds tcp_idle_timeout{10'000};
  size_t max_tcp_message = 4096;
  // Optional per-source-IP limit on UDP queries (config dns.rate_limit_qps), for a host
  // listener bound to an address other hosts can reach: a token bucket refilled at
  // `rate_qps` per second holding one second's worth. A query beyond it is answered with
  // TC set and empty sections (never silently dropped): a real resolver retries over TCP,
  // which a spoofed source cannot, and which is not limited (connections are bounded
  // above). 0, the default, is no limit: the loopback and VM-namespace listeners need none,
  // and any limit there only slows legitimate tools (dnsperf, busy guests).
  double rate_qps = 0;
  size_t max_rate_sources = 4096;  // bucket table bound; idle (full) buckets are evicted
  // Responses remembered per distinct question (see AnswerCache); 0 disables.
  size_t answer_cache_entries = 4096;
  // Where names outside the zone go ("IPv4:port", tried round-robin), in the
  // `host` network mode; empty: they are answered REFUSED (isolated: no way out).
  // Forwarded over UDP, the reply relayed to the client (UDP or TCP) with its own
  // query id; a reply not back within `forward_timeout` is dropped (clients retry).
  std::vector<std::string> upstreams;
  std::chrono::milliseconds forward_timeout{3000};
  size_t max_forwarded = 1024;  // queries in flight upstream; beyond, dropped
};

// Counters for tests, `doctor` and logs. Monotonic since Start().
struct DnsServerStats {
  uint64_t answered = 0;      // replies sent (TC replies over the rate limit included)
  uint64_t malformed = 0;     // dropped: Answer() refused to parse
  uint64_t rate_limited = 0;  // over the source's bucket: answered with TC
  uint64_t tcp_rejected = 0;  // connections closed at accept (over the bound)
  uint64_t forwarded = 0;     // queries sent upstream
  // Replies answered here (not forwarded, not rate-limited) by their RCODE (0-15).
  std::array<uint64_t, 16> by_rcode{};
};

// Serves DNS over UDP and TCP (RFC 1035 2-byte length prefix) on sockets the caller made,
// so the daemon decides where (host loopback, the VM namespace's bridge address via
// OpenSocketIn). One thread runs an epoll loop over every socket; it blocks on nothing
// else, answers with Answer() and reads records through DnsRecords' leaf lock.
//
// Thread-safety: Start/Shutdown/stats may be called from any thread; all other state is
// owned by the loop thread. `records` and `clock` must outlive the server.
class DnsServer {
 public:
  DnsServer(DnsServerOptions options, const DnsRecords* records, Clock* clock);
  ~DnsServer();  // Shutdown()
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // Takes ownership of bound UDP sockets and bound, listening TCP sockets (any may be
  // empty, not both) and starts the loop thread. Call once.
  Status Start(std::vector<UniqueFd> udp, std::vector<UniqueFd> tcp);
  // Stops the loop, joins it and closes every socket. Idempotent.
  void Shutdown();
  DnsServerStats stats() const;

 private:
  struct Conn {
    UniqueFd fd;
    std::string in, out;
    std::chrono::steady_clock::time_point last_active;
  };
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  enum class Kind { kWake, kUdp, kListen, kConn, kUpstream };
  // A query sent upstream, waiting for its reply (forward.cc).
  struct Forwarded {
    bool tcp = false;
    int fd = -1;  // the UDP socket it came in on, or the TCP connection
    sockaddr_storage from{};
    socklen_t from_len = 0;
    uint16_t client_id = 0;
    std::chrono::steady_clock::time_point deadline;
  };
  struct UdpBatch;  // recvmmsg/sendmmsg buffers, defined in server.cc

  void Loop();
  void OnUdp(int fd);
  void OnAccept(int fd);
  void OnConn(int fd, uint32_t events);
  // Answers every complete message buffered on `c`; false when `c` must be closed.
  bool ServeBuffered(Conn& c);
  bool Flush(Conn& c);
  void CloseConn(int fd);
  void SweepIdle();
  bool Admit(const std::string& source);
  // Forwarding (forward.cc): true when `query` went upstream (or was dropped
  // for lack of room) and must not be answered here.
  Status StartForwarding();
  bool MaybeForward(std::string_view query, bool tcp, int fd, const sockaddr_storage* from,
                    socklen_t from_len);
  void OnUpstream();
  void SweepForwarded();
  // Answer() through the cache.
  Result<std::string> Respond(std::string_view query, Transport transport);
  void Watch(int fd, Kind kind, uint32_t events);

  // Immutable after construction.
  const DnsServerOptions options_;
  const DnsRecords* const records_;
  Clock* const clock_;

  // Owned by Start()/Shutdown() (called from the owner's thread) and the loop thread.
  UniqueFd epoll_;
  UniqueFd wake_;
  std::thread thread_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::vector<UniqueFd> sockets_;

  // Loop-thread only.
  std::map<int, Kind> kinds_;
  std::map<int, Conn> conns_;
  std::map<std::string, Bucket> buckets_;
  AnswerCache cache_;
  std::vector<char> buf_;  // TCP reads
  std::unique_ptr<UdpBatch> udp_;
  UniqueFd upstream_;                       // unbound UDP socket to the upstreams
  std::vector<sockaddr_in> upstream_addrs_;
  size_t next_upstream_ = 0;
  uint16_t next_forward_id_ = 1;
  std::map<uint16_t, Forwarded> forwarded_;  // by the id we sent upstream

  std::atomic<uint64_t> answered_{0}, malformed_{0}, rate_limited_{0}, tcp_rejected_{0},
      forwarded_count_{0};
  std::array<std::atomic<uint64_t>, 16> by_rcode_{};
};

// The address bytes of `addr` (4 for IPv4, 16 for IPv6): the rate-limit key.
std::string SourceKey(const sockaddr_storage& addr);

}  // namespace warren
