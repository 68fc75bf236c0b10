// Relay cost of a published port (`vm publish`), side by side in one run:
// a client reaching a server directly inside the "VM namespace" versus the
// same client reaching it through PortRelay from another namespace, as a host
// client reaches a guest. Measures bulk throughput (client → sink) and the
// round-trip time of a small message (echo), alternating the two paths. Then
// holds N connections open at once through one published port, a message
// echoed on each, and counts failures and the process's fds before and after.
//
// Runs as root only, entirely inside namespaces it makes: the process unshares
// its own network namespace (the "host") and makes a second one (the "VM
// namespace"), both with only loopback up; no traffic leaves them.
//
// On a shared machine the relayed path suffers most from other load: it has
// one more thread to wake per hop (client -> relay -> server), each waiting
// for a core behind whatever else runs. `--realtime` runs the whole process
// (both paths alike) under SCHED_FIFO so the figures show the relay's own cost;
// the CPU time and context switches per MiB, printed for each path, do not
// depend on other load either way.
//
//   publish_bench [--bytes MiB] [--round-trips N] [--rounds R] [--concurrent N] [--realtime 1]

#include <sched.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <string>
#include <vector>

#include "net/netlink.h"
#include "net/netns.h"
#include "net/port_relay.h"
#include "net/relay_test_util.h"

namespace warren {
namespace {

using namespace relay_test;
using Clock = std::chrono::steady_clock;

Status LoopbackUp() {
  ASSIGN_OR_RETURN(Netlink nl, Netlink::OpenHere());
  LinkChange up;
  up.up = true;
  return nl.SetLink("lo", up);
}

// Seconds to push `bytes` to 127.0.0.1:port (from the calling thread's namespace).
double Push(uint16_t port, size_t bytes) {
  UniqueFd c = Dial(port);
  if (!c.valid()) std::abort();
  std::vector<char> buf(1 << 18, 'x');
  const auto start = Clock::now();
  for (size_t sent = 0; sent < bytes; sent += buf.size()) {
    if (!SendAll(c.get(), buf.data(), buf.size())) std::abort();
  }
  ::shutdown(c.get(), SHUT_WR);
  char eof;
  (void)::recv(c.get(), &eof, 1, 0);  // the sink closes after reading everything
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Round-trip times in microseconds of 64-byte messages to an echo server.
std::vector<double> PingPong(uint16_t port, int n) {
  UniqueFd c = Dial(port);
  if (!c.valid()) std::abort();
  char msg[64] = {}, back[64];
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n + 100; ++i) {
    const auto start = Clock::now();
    if (!SendAll(c.get(), msg, sizeof(msg)) || !RecvAll(c.get(), back, sizeof(back))) std::abort();
    if (i >= 100) {  // the first hundred warm up
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
  }
  std::sort(us.begin(), us.end());
  return us;
}

// The whole process's CPU seconds and context switches so far (every thread:
// client, relay and servers).
struct Usage {
  double cpu = 0;
  double switches = 0;
};
Usage ProcessUsage() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return {secs(u.ru_utime) + secs(u.ru_stime), static_cast<double>(u.ru_nvcsw + u.ru_nivcsw)};
}

// Runs push (returning seconds) and returns MiB/s; adds CPU ms and context
// switches per MiB to the sample vectors.
template <typename F>
double Measured(size_t mib, F push, std::vector<double>* cpu_ms, std::vector<double>* switches) {
  const Usage before = ProcessUsage();
  const double secs = push();
  const Usage after = ProcessUsage();
  cpu_ms->push_back((after.cpu - before.cpu) * 1000 / mib);
  switches->push_back((after.switches - before.switches) / mib);
  return mib / secs;
}

template <typename F>
auto InNs(int ns_fd, F fn) {
  decltype(fn()) out{};
  ThreadIn(ns_fd, [&] { out = fn(); }).join();
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / v.size();
}

size_t OpenFds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// Opens n connections to port at once, echoes 64 bytes on each while all are
// open, then closes them and waits for the relay to let go of its side.
// Prints the failures, the relay's peak and the fds before and after.
void Concurrent(PortRelay& relay, uint16_t port, int n) {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 65536);  // 8 fds per connection in this process
  ::setrlimit(RLIMIT_NOFILE, &lim);
  const size_t fds_before = OpenFds();
  std::vector<UniqueFd> conns;
  int failed = 0;
  for (int i = 0; i < n; ++i) {
    UniqueFd c = Dial(port);
    if (!c.valid()) ++failed;
    conns.push_back(std::move(c));
  }
  // Each connection's message names it, so a reply crossing to another
  // connection is a failure too.
  auto message = [](int fd) {
    std::string m(64, '.');
    std::snprintf(m.data(), m.size(), "connection %d", fd);
    return m;
  };
  for (auto& c : conns) {
    if (c.valid() && !SendAll(c.get(), message(c.get()).data(), 64)) ++failed;
  }
  for (auto& c : conns) {
    char back[64];
    if (c.valid() && (!RecvAll(c.get(), back, sizeof(back)) ||
                      std::memcmp(message(c.get()).data(), back, sizeof(back)) != 0)) {
      ++failed;
    }
  }
  const size_t peak = relay.GetStats().tcp_connections;
  conns.clear();
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while ((relay.GetStats().tcp_connections > 0 || OpenFds() > fds_before) &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("%d connections at once through one published port: %d failed; relay held %zu; "
              "fds before %zu, after %zu (goal: 0 failed, no fd left)\n",
              n, failed, peak, fds_before, OpenFds());
}

int Main(int argc, char** argv) {
  size_t mib = 1024;
  int round_trips = 20000, rounds = 3, concurrent = 1000;
  bool realtime = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--bytes")) mib = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--round-trips")) round_trips = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--concurrent")) concurrent = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--realtime")) realtime = std::stoi(argv[i + 1]) != 0;
  }
  if (realtime) {
    // Every thread made from here on inherits it. The kernel's RT throttling
    // (sched_rt_runtime_us) still leaves other processes 5 % of each second.
    sched_param param{};
    param.sched_priority = 10;
    if (::sched_setscheduler(0, SCHED_FIFO, &param) != 0) {
      std::fprintf(stderr, "publish_bench: SCHED_FIFO: %s\n", std::strerror(errno));
      return 2;
    }
  }
  if (::unshare(CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "publish_bench: unshare(CLONE_NEWNET): %s (run as root)\n",
                 std::strerror(errno));
    return 2;
  }
  if (!LoopbackUp().ok()) return 2;
  // The "VM namespace": made by a thread that leaves it at once; the handle
  // keeps it alive.
  Result<NetnsHandle> vm_ns = Internal("the VM namespace was not made");
  std::thread([&] {
    if (::unshare(CLONE_NEWNET) != 0 || !LoopbackUp().ok()) return;
    vm_ns = NetnsHandle::Current();
  }).join();
  if (!vm_ns.ok()) return 2;
  const int ns = vm_ns->fd();

  TcpServer sink(TcpServer::Mode::kSink, ns), echo(TcpServer::Mode::kEcho, ns);
  Result<std::unique_ptr<PortRelay>> relay = PortRelay::Start(*vm_ns, {});
  if (!relay.ok()) return 2;
  PublishSpec to_sink, to_echo;
  to_sink.host_port = FreePort();
  to_sink.guest_port = sink.port();
  to_echo.host_port = FreePort();
  to_echo.guest_port = echo.port();
  if (!(*relay)->Add(to_sink, "127.0.0.1").ok() || !(*relay)->Add(to_echo, "127.0.0.1").ok()) {
    return 2;
  }

  const size_t bytes = mib << 20;
  std::vector<double> direct_mbs, relay_mbs;
  std::vector<double> direct_rtt, relay_rtt;  // medians per round
  std::vector<double> direct_p99, relay_p99, direct_p50, relay_p50;
  std::vector<double> direct_cpu, relay_cpu, direct_sw, relay_sw;  // per MiB
  for (int r = 0; r < rounds; ++r) {
    direct_mbs.push_back(Measured(
        mib, [&] { return InNs(ns, [&] { return Push(sink.port(), bytes); }); }, &direct_cpu,
        &direct_sw));
    relay_mbs.push_back(Measured(
        mib, [&] { return Push(to_sink.host_port, bytes); }, &relay_cpu, &relay_sw));
    std::vector<double> d = InNs(ns, [&] { return PingPong(echo.port(), round_trips); });
    std::vector<double> p = PingPong(to_echo.host_port, round_trips);
    direct_rtt.push_back(Mean(d)), relay_rtt.push_back(Mean(p));
    direct_p99.push_back(d[d.size() * 99 / 100]), relay_p99.push_back(p[p.size() * 99 / 100]);
    direct_p50.push_back(d[d.size() / 2]), relay_p50.push_back(p[p.size() / 2]);
  }
  const double dm = Median(direct_mbs), rm = Median(relay_mbs);
  const double dl = Median(direct_rtt), rl = Median(relay_rtt);
  std::printf("publish_bench: %zu MiB per push, %d round trips of 64 B, %d rounds (medians)%s\n",
              mib, round_trips, rounds, realtime ? ", SCHED_FIFO" : "");
  std::printf("%-28s %12s %12s %10s\n", "", "direct", "relay", "relay/direct");
  std::printf("%-28s %12.0f %12.0f %10.2f\n", "throughput MiB/s", dm, rm, rm / dm);
  std::printf("%-28s %12.2f %12.2f %10.2f\n", "CPU ms per MiB (process)", Median(direct_cpu),
              Median(relay_cpu), Median(relay_cpu) / Median(direct_cpu));
  std::printf("%-28s %12.2f %12.2f %10.2f\n", "context switches per MiB", Median(direct_sw),
              Median(relay_sw), Median(relay_sw) / Median(direct_sw));
  std::printf("%-28s %12.1f %12.1f %+10.1f\n", "round trip mean us", dl, rl, rl - dl);
  std::printf("%-28s %12.1f %12.1f %+10.1f\n", "round trip p50 us", Median(direct_p50),
              Median(relay_p50), Median(relay_p50) - Median(direct_p50));
  std::printf("%-28s %12.1f %12.1f %+10.1f\n", "round trip p99 us", Median(direct_p99),
              Median(relay_p99), Median(relay_p99) - Median(direct_p99));
  std::printf("added per round trip: %.3f ms (goal <= 0.2); throughput %.2fx (goal >= 0.9)\n",
              (rl - dl) / 1000, rm / dm);
  Concurrent(**relay, to_echo.host_port, concurrent);
  return 0;
}

}  // namespace
}  // namespace warren

int main(int argc, char** argv) { return warren::Main(argc, argv); }
