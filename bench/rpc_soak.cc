// rpc_soak: many concurrent clients against a running `warren daemon` for a
// while, mixing well-formed reads with hostile input, then a report. Not a
// test: run it by hand or through bench/rpc_soak.sh (which starts a throwaway
// daemon in a private network namespace).
//
//   rpc_soak --socket S --pid P [--clients 1000] [--seconds 30]
//            [--vm-workers 5 --warren BINARY --root DIR] [--rounds 1]
//
// Each client thread loops until the deadline over: daemon.status, vm.list,
// op.list (each must succeed), a garbage frame on a fresh connection, a call
// with wrong-typed params (must be refused with InvalidArgument), and hostile
// control payloads on a vm.exec stream. With --vm-workers, that many more
// threads each loop through the real CLI: `vm create soakN` (default image),
// `exec soakN` of a command fed stdin, a raw vm.exec on that running guest
// whose stream carries wrong-typed control payloads, and `vm rm soakN`; each
// step must succeed. Reports failed well-formed calls and VM cycles, whether
// the daemon's pid survived, its RSS and fd count before and after.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "rpc/client.h"
#include "sys/runner.h"
#include "rpc/frame.h"
#include "rpc/stream_control.h"

namespace {

using nlohmann::json;
using warren::Result;
using warren::rpc::Client;

struct Counters {
  std::atomic<int64_t> ok{0}, failed{0}, refused{0}, wrongly_accepted{0}, hostile{0},
      connect_failed{0}, vm_cycles{0}, vm_steps_failed{0}, execs{0};
};

long RssKib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

long FdCount(int pid) {
  std::error_code ec;
  long n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : n;
}

// A raw connection that sends `bytes` and waits (bounded) for the daemon to
// answer or hang up.
void SendRaw(const std::string& socket, const std::string& bytes) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    (void)!::read(fd, buf, sizeof(buf));
  }
  ::close(fd);
}

void Hostile(const std::string& socket, int round, Client* client, Counters* c) {
  using namespace warren::rpc;
  switch (round % 3) {
    case 0:
      SendRaw(socket, "GARBAGE \x01\x02\x03 not a frame");
      break;
    case 1: {  // wrong types: must be refused, never run
      Result<json> r = client->Call("vm.list", {{"bogus", {1, 2}}});
      if (!r.ok() && r.error().code() == warren::Code::kInvalidArgument) {
        ++c->refused;
      } else {
        ++c->wrongly_accepted;
      }
      break;
    }
    case 2: {  // hostile control payloads on an exec stream (no such VM here)
      std::string frames;
      for (const char* p : {R"({"resize":["a",1]})", R"({"eof":"yes"})", R"({"signal":5})"}) {
        frames += EncodeStreamFrame(1, kChannelControl, p);
      }
      SendRaw(socket, EncodeJsonFrame(R"({"jsonrpc":"2.0","id":1,"method":"vm.exec",)"
                                      R"("params":{"vm":"soak","argv":["true"],"stream":1}})") +
                          frames);
      break;
    }
  }
  ++c->hostile;
}

void ClientLoop(const std::string& socket, std::chrono::steady_clock::time_point deadline,
                Counters* c) {
  auto connected = Client::Connect(socket);
  if (!connected.ok()) {
    ++c->connect_failed;
    return;
  }
  std::unique_ptr<Client> client = std::move(*connected);
  static const char* kReads[] = {"daemon.status", "vm.list", "op.list"};
  for (int round = 0; std::chrono::steady_clock::now() < deadline; ++round) {
    Result<json> r = client->Call(kReads[round % 3], json::object());
    if (r.ok()) {
      ++c->ok;
    } else {
      ++c->failed;
      std::fprintf(stderr, "well-formed call failed: %s\n", r.error().ToString().c_str());
    }
    if (round % 4 == 3) Hostile(socket, round / 4, client.get(), c);
  }
}

// One VM's life through the real CLI, over and over until the deadline: create
// (default image), exec with stdin, a raw exec whose control stream is
// hostile, rm. A failed step is counted and reported; the VM is always removed.
void VmWorker(const std::string& warren, const std::string& root, const std::string& socket,
              int n, std::chrono::steady_clock::time_point deadline, Counters* c) {
  warren::RealRunner runner;
  const std::string vm = "soak" + std::to_string(n);
  auto cli = [&](std::vector<std::string> args, const std::string& in = "") {
    args.insert(args.begin(), {warren, "--root", root});
    warren::RunSpec spec;
    spec.argv = args;
    spec.timeout = std::chrono::minutes(5);
    spec.stdin_data = in;
    Result<warren::RunResult> r = runner.Run(spec);
    bool ok = r.ok() && r->exit_code == 0;
    if (!ok) {
      ++c->vm_steps_failed;
      std::fprintf(stderr, "%s %s failed: %s\n", vm.c_str(), args[3].c_str(),
                   r.ok() ? r->err.c_str() : r.error().ToString().c_str());
    }
    return ok ? r->out : std::string("\x01failed");
  };
  while (std::chrono::steady_clock::now() < deadline) {
    if (cli({"vm", "create", vm, "--memory", "256"}) != "\x01failed") {
      std::string out = cli({"exec", vm, "--", "wc", "-c"}, std::string(100000, 'x'));
      if (out.find("100000") == std::string::npos) {
        ++c->vm_steps_failed;
        std::fprintf(stderr, "%s: exec read back %s\n", vm.c_str(), out.c_str());
      }
      ++c->execs;
      using namespace warren::rpc;
      std::string frames;
      for (const char* p : {R"({"resize":["a",1]})", R"({"eof":"yes"})", R"({"signal":5})",
                            R"({"resize":[1e300,-1]})"}) {
        frames += EncodeStreamFrame(7, kChannelControl, p);
      }
      SendRaw(socket, EncodeJsonFrame(R"({"jsonrpc":"2.0","id":1,"method":"vm.exec","params":{"vm":")" +
                                      vm + R"(","argv":["sleep","1"],"stream":7}})") +
                          frames);
      ++c->hostile;
    }
    if (cli({"vm", "rm", vm, "--force"}) != "\x01failed") ++c->vm_cycles;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket, warren, root;
  int pid = 0, clients = 1000, seconds = 30, vm_workers = 0, rounds = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--socket") socket = argv[i + 1];
    if (flag == "--pid") pid = std::atoi(argv[i + 1]);
    if (flag == "--clients") clients = std::atoi(argv[i + 1]);
    if (flag == "--seconds") seconds = std::atoi(argv[i + 1]);
    if (flag == "--vm-workers") vm_workers = std::atoi(argv[i + 1]);
    if (flag == "--rounds") rounds = std::atoi(argv[i + 1]);
    if (flag == "--warren") warren = argv[i + 1];
    if (flag == "--root") root = argv[i + 1];
  }
  if (socket.empty() || pid <= 0 || (vm_workers > 0 && (warren.empty() || root.empty()))) {
    std::fprintf(stderr, "usage: rpc_soak --socket S --pid P [--clients N] [--seconds T] "
                         "[--vm-workers N --warren BINARY --root DIR] [--rounds N]\n");
    return 2;
  }
  const long rss_before = RssKib(pid), fds_before = FdCount(pid);
  Counters c;
  bool alive = true;
  // Several rounds show whether what the daemon keeps after one (RSS) is a
  // plateau (caches: freed thread stacks, malloc arenas) or grows (a leak).
  for (int round = 1; round <= rounds && alive; ++round) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    std::vector<std::thread> threads;
    threads.reserve(clients + vm_workers);
    for (int i = 0; i < clients; ++i) threads.emplace_back(ClientLoop, socket, deadline, &c);
    for (int i = 0; i < vm_workers; ++i) {
      threads.emplace_back(VmWorker, warren, root, socket, i, deadline, &c);
    }
    for (std::thread& t : threads) t.join();
    std::this_thread::sleep_for(std::chrono::seconds(2));  // let the daemon reap connections
    alive = ::kill(pid, 0) == 0;
    std::printf("round %d: daemon RSS KiB %ld, fds %ld\n", round, RssKib(pid), FdCount(pid));
  }
  std::printf("clients %d, %d s x %d rounds\n", clients, seconds, rounds);
  std::printf("well-formed calls: %ld ok, %ld failed; connects failed: %ld\n", long(c.ok),
              long(c.failed), long(c.connect_failed));
  std::printf("hostile rounds: %ld (wrong-typed params refused %ld, accepted %ld)\n",
              long(c.hostile), long(c.refused), long(c.wrongly_accepted));
  std::printf("VM workers %d: %ld create/exec/rm cycles, %ld execs, %ld failed steps\n",
              vm_workers, long(c.vm_cycles), long(c.execs), long(c.vm_steps_failed));
  std::printf("daemon pid %d alive after: %s\n", pid, alive ? "yes" : "NO");
  std::printf("daemon RSS KiB before %ld after %ld; fds before %ld after %ld\n", rss_before,
              RssKib(pid), fds_before, FdCount(pid));
  return alive && c.failed == 0 && c.connect_failed == 0 && c.wrongly_accepted == 0 &&
                 c.vm_steps_failed == 0
             ? 0
             : 1;
}
