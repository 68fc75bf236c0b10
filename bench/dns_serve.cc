// A standalone warren DNS server for bench/dns_bench.sh: serves vm0..vm<N-1>.<domain> →
// 10.77.<i/250>.<i%250+1> on 127.0.0.1:PORT (UDP and TCP) until SIGINT/SIGTERM, with the
// rate limit off so dnsperf measures the answer path rather than the bucket.
//
//   dns_serve PORT [NAMES=100]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/clock.h"
#include "dns/records.h"
#include "dns/server.h"

namespace {

warren::UniqueFd BindLoopback(int type, uint16_t port) {
  warren::UniqueFd fd(socket(AF_INET, type | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rcvbuf = 4 << 20;  // as dnsmasq gets from its own defaults/sysctl; avoid drops at peaks
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      (type == SOCK_STREAM && listen(fd.get(), 64) != 0)) {
    std::perror("dns_serve: bind/listen");
    std::exit(1);
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: dns_serve PORT [NAMES]\n");
    return 2;
  }
  const auto port = static_cast<uint16_t>(std::atoi(argv[1]));
  const int names = argc > 2 ? std::atoi(argv[2]) : 100;

  warren::DnsRecords records;
  for (int i = 0; i < names; ++i) {
    std::string ip = "10.77." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    if (!records.Set("vm" + std::to_string(i), ip).ok()) return 1;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // before the loop thread starts: it inherits

  warren::SystemClock clock;
  warren::DnsServerOptions options;
  options.rate_qps = 0;
  warren::DnsServer server(options, &records, &clock);
  std::vector<warren::UniqueFd> udp, tcp;
  udp.push_back(BindLoopback(SOCK_DGRAM, port));
  tcp.push_back(BindLoopback(SOCK_STREAM, port));
  if (warren::Status st = server.Start(std::move(udp), std::move(tcp)); !st.ok()) {
    std::fprintf(stderr, "dns_serve: %s\n", st.ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "dns_serve: %d names on 127.0.0.1:%u\n", names, port);
  int sig = 0;
  sigwait(&stop, &sig);
  server.Shutdown();
  warren::DnsServerStats s = server.stats();
  std::fprintf(stderr, "dns_serve: answered %llu, malformed %llu\n",
               static_cast<unsigned long long>(s.answered),
               static_cast<unsigned long long>(s.malformed));
  return 0;
}
