// vm_bench [ROUNDS] [BATCH_ROUNDS]: what a VM costs through warren, side by
// side with raw QEMU, under the same machine load. Needs root, QEMU,
// genisoimage; the default image is built through the daemon (a cached build
// when $WARREN_TEST_CACHE holds the base tarball).
//
// 1. create→ready, interleaved (w, r, w, r, ...; ROUNDS each, default 10, after
//    one discarded warm-up pair):
//    w = `vm.create` of the default image (1 vCPU, TCG, the daemon's default
//        memory and disk) until its op succeeded, i.e. SSH authenticated with
//        the daemon's key against the seeded host key. Step times come from
//        the op's progress notifications.
//    r = raw QEMU doing the same work by hand: a qcow2 overlay on the same
//        rootfs (qemu-img), a host key and a seed ISO, a new TAP on a bridge in
//        a network namespace this bench makes, QEMU started with
//        BuildQemuArgv's argv for an equivalent VmSpec (same kernel, initrd,
//        cmdline, devices and -runas user; compared with warren's QEMU's
//        /proc cmdline and the result printed), then LibsshDialer::WaitForSsh,
//        so "ready" means the same thing.
// 2. batches (BATCH_ROUNDS, default 3): 1 create, 5 sequential creates and 5
//    concurrent creates through the daemon, wall time until all are ready.
//
// Prints every run, medians / ranges, the ratio warren / raw, and
// /proc/loadavg at start and end. With VM_BENCH_LOGS=DIR every guest's serial
// log is kept there. Not a test: timings depend on the machine.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "e2e/daemon_harness.h"
#include "image/seed.h"
#include "net/bridge.h"
#include "net/ip_alloc.h"
#include "net/netlink.h"
#include "net/netns.h"
#include "net/tap_device.h"
#include "session/guest_socket.h"
#include "session/libssh_dialer.h"
#include "sys/files.h"
#include "vm/qemu/argv.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// The create steps, in order, as the op reports them; the raw path records the
// same names at the same boundaries.
const std::vector<std::string> kSteps = {"clone disk", "write seed", "take TAP", "launch",
                                         "wait for SSH", "ready"};
constexpr const char* kRawBridge = "rbr0";
constexpr const char* kSubnet = "10.77.0.0/24";  // the daemon's default; the raw ns has its own

double Since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

std::string LoadAvg() {
  Result<std::string> s = ReadFileToString("/proc/loadavg");
  std::string v = s.ok() ? *s : "?";
  while (!v.empty() && v.back() == '\n') v.pop_back();
  return v;
}

// user + system CPU seconds of `pid` so far; 0 if unknown.
double CpuSeconds(pid_t pid) {
  Result<std::string> stat = ReadFileToString("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return 0;
  std::istringstream in(stat->substr(stat->rfind(')') + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i) in >> skip;  // fields 3..13
  double utime = 0, stime = 0;
  in >> utime >> stime;
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

Result<std::vector<std::string>> ProcCmdline(pid_t pid) {
  ASSIGN_OR_RETURN(std::string raw, ReadFileToString("/proc/" + std::to_string(pid) + "/cmdline"));
  std::vector<std::string> argv;
  std::istringstream in(raw);
  for (std::string a; std::getline(in, a, '\0');) argv.push_back(a);
  return argv;
}

struct Stats {
  double median = NAN, min = NAN, max = NAN;
  size_t n = 0;
};
Stats StatsOf(std::vector<double> v) {
  Stats s;
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.n = v.size();
  s.min = v.front();
  s.max = v.back();
  s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return s;
}

// One create→ready. `at[step]` is when that step began, seconds from the start;
// "rpc" is when vm.create returned, "end" when the op was seen succeeded.
struct Run {
  double total = 0;
  std::map<std::string, double> at;
  double qemu_cpu = 0;  // QEMU's CPU seconds at ready (single runs only)
  double t0_boottime = 0;   // CLOCK_BOOTTIME at the start, to place QEMU's start
  double qemu_start = NAN;  // when QEMU's process began, from the start (10 ms ticks)
};

double BootTimeNow() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Fills in QEMU's CPU time so far and its start time (field 22 of
// /proc/PID/stat: clock ticks since boot).
void MeasureQemu(pid_t pid, Run& run) {
  run.qemu_cpu = CpuSeconds(pid);
  Result<std::string> stat = ReadFileToString("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return;
  std::istringstream in(stat->substr(stat->rfind(')') + 2));
  std::string skip;
  for (int i = 0; i < 19; ++i) in >> skip;  // fields 3..21
  double start_ticks = 0;
  in >> start_ticks;
  run.qemu_start = start_ticks / static_cast<double>(::sysconf(_SC_CLK_TCK)) - run.t0_boottime;
}

// The per-step durations of a run, in order: until the first step was seen
// (warren: the vm.create call and attaching to the op), each step until the next
// one began, and from "ready" until the client saw the op end.
std::vector<std::pair<std::string, double>> StepDurations(const Run& r) {
  auto at = [&](const std::string& k) { return r.at.count(k) ? r.at.at(k) : NAN; };
  std::vector<std::pair<std::string, double>> d = {{"until first step", at(kSteps[0])}};
  for (size_t i = 0; i + 1 < kSteps.size(); ++i) {
    d.emplace_back(kSteps[i], at(kSteps[i + 1]) - at(kSteps[i]));
  }
  d.emplace_back("ready → client", r.total - at("ready"));
  // The same run cut at QEMU's start instead: what comes before the guest boots
  // and the boot itself (which overlaps warren's QMP handshake in "launch").
  d.emplace_back("= start → QEMU started", r.qemu_start);
  d.emplace_back("= QEMU started → ready", r.total - r.qemu_start);
  return d;
}

// $VM_BENCH_LOGS, if set: every guest's serial log is copied there as
// NAME.serial.log, to compare where two boots spent their time.
void KeepSerialLog(const fs::path& log, const std::string& name) {
  const char* dir = std::getenv("VM_BENCH_LOGS");
  if (dir == nullptr || *dir == '\0') return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::copy_file(log, fs::path(dir) / (name + ".serial.log"), fs::copy_options::overwrite_existing,
                ec);
}

// ---- warren ----

Result<Run> WarrenCreate(e2e::WarrenDaemon& d, const std::string& name) {
  Run run;
  std::mutex mu;
  run.t0_boottime = BootTimeNow();
  const SteadyClock::time_point t0 = SteadyClock::now();
  ASSIGN_OR_RETURN(json created, d.Call("vm.create", {{"name", name}, {"image", "default"}}));
  run.at["rpc"] = Since(t0);
  // A waiter attaching late replays earlier events: keep the first sighting,
  // and never place a step before vm.create returned.
  auto notify = [&](std::string_view method, const json& params) {
    if (method != "op.progress") return;
    std::lock_guard<std::mutex> lock(mu);
    run.at.emplace(params.value("step", ""), Since(t0));
  };
  ASSIGN_OR_RETURN(json op, d.Call("op.wait", {{"id", created.value("op", "")}}, notify));
  run.total = Since(t0);
  run.at["end"] = run.total;
  if (op.value("state", "") != "succeeded") {
    return Internal("create " + name + ": op " + op.value("state", "") + ": " +
                    op.value("error", "") + "\n" + d.Log());
  }
  return run;
}

Status RemoveVms(e2e::WarrenDaemon& d, const std::vector<std::string>& names) {
  for (const std::string& n : names) {
    RETURN_IF_ERROR(d.Call("vm.rm", {{"name", n}, {"force", true}}).status());
  }
  return Status::Ok();
}

// ---- raw QEMU ----

struct ImageFiles {
  fs::path kernel, initrd, rootfs;
  std::string cmdline;
};

Result<ImageFiles> DefaultImage(e2e::WarrenDaemon& d) {
  ASSIGN_OR_RETURN(json info, d.Call("image.inspect", {{"name", "default"}}));
  fs::path dir = info.value("dir", "");
  const json& parts = info["manifest"]["parts"];
  auto part = [&](const char* role) { return dir / parts[role].value("file", ""); };
  return ImageFiles{part("kernel"), part("initrd"), part("rootfs"),
                    info["manifest"].value("cmdline", "")};
}

// The bench's own namespace (bridge with the same gateway address as the
// daemon's), scratch directory and client key. Destruction removes them.
class RawEnv {
 public:
  static Result<std::unique_ptr<RawEnv>> Create(Runner& runner, ImageFiles image) {
    std::string t = (fs::temp_directory_path() / "warren-vm-bench-XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) return ErrnoError("mkdtemp", errno);
    std::unique_ptr<RawEnv> env(new RawEnv(t, std::move(image)));
    env->ns_name_ = "warren-bench-" + std::to_string(::getpid());
    ASSIGN_OR_RETURN(NetnsHandle ns, NetnsHandle::Create(kDefaultNetnsDir, env->ns_name_));
    env->ns_ = std::make_unique<NetnsHandle>(std::move(ns));
    ASSIGN_OR_RETURN(IpAllocator ips, IpAllocator::Create(kSubnet));
    RETURN_IF_ERROR(EnsureBridgeIn(*env->ns_, {kRawBridge, ips.GatewayCidr()}));
    env->gateway_ = ips.Gateway();
    env->prefix_ = ips.prefix_len();
    ASSIGN_OR_RETURN(env->client_, GenerateEd25519KeyPair("bench-client"));
    env->dialer_ = std::make_unique<LibsshDialer>(NetnsSocketFactory(*env->ns_));
    return env;
  }
  ~RawEnv() {
    dialer_.reset();
    ns_.reset();
    if (!ns_name_.empty()) (void)NetnsHandle::Delete(kDefaultNetnsDir, ns_name_);
    std::error_code ec;
    fs::remove_all(work_, ec);
  }

  // One raw boot of VM `name` at `ip`; everything it made is gone on return.
  // `argv_out` (optional) gets QEMU's argv.
  Result<Run> Boot(Runner& runner, const std::string& name, const std::string& ip,
                   std::vector<std::string>* argv_out);
  // The user QEMU drops to (VmSpec::run_as), as the daemon chose it.
  void set_run_as(std::string user) { run_as_ = std::move(user); }

 private:
  RawEnv(fs::path work, ImageFiles image) : work_(std::move(work)), image_(std::move(image)) {}

  fs::path work_;
  ImageFiles image_;
  std::string ns_name_, gateway_, run_as_;
  int prefix_ = 24;
  std::unique_ptr<NetnsHandle> ns_;
  SshKeyPair client_;
  std::unique_ptr<LibsshDialer> dialer_;
};

fs::path FindInPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    fs::path p = fs::path(dir) / program;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return program;
}

// fork + exec with the TAP at kQemuTapFd, stdin /dev/null, output to `log`,
// nothing else open: what the daemon's launcher does, minus QMP.
Result<pid_t> SpawnQemu(const std::vector<std::string>& argv, int tap_fd, const fs::path& log) {
  const std::string binary = FindInPath(argv[0]).string();
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return ErrnoError("open " + log.string(), errno);
  pid_t pid = ::fork();
  if (pid == 0) {
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    if (tap_fd == kQemuTapFd) {
      ::fcntl(tap_fd, F_SETFD, 0);
    } else {
      ::dup2(tap_fd, kQemuTapFd);
    }
    ::closefrom(kQemuTapFd + 1);
    ::execv(binary.c_str(), cargv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (pid < 0) return ErrnoError("fork", errno);
  return pid;
}

Result<Run> RawEnv::Boot(Runner& runner, const std::string& name, const std::string& ip,
                         std::vector<std::string>* argv_out) {
  const fs::path dir = work_ / name;
  const fs::path qmp = work_ / (name + ".qmp");
  const std::string tap_name = "r" + name;
  pid_t pid = -1;
  bool tap_made = false;
  // Untimed cleanup on every path.
  struct Cleanup {
    std::function<void()> fn;
    ~Cleanup() { fn(); }
  } cleanup{[&] {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (tap_made) {
      (void)RunInNetns(ns_->fd(), [&]() -> Status {
        ASSIGN_OR_RETURN(Netlink nl, Netlink::OpenHere());
        return nl.DeleteLink(tap_name);
      });
    }
    KeepSerialLog(dir / "serial.log", name);
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::remove(qmp, ec);
  }};

  Run run;
  ASSIGN_OR_RETURN(std::string mac, MacForIp(ip));
  run.t0_boottime = BootTimeNow();
  const SteadyClock::time_point t0 = SteadyClock::now();
  run.at["clone disk"] = 0;
  fs::create_directories(dir);
  RunSpec img;
  img.argv = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
              image_.rootfs.string(), (dir / "disk.qcow2").string(), "4G"};
  RETURN_IF_ERROR(RunAndCheck(runner, img).status());

  run.at["write seed"] = Since(t0);
  ASSIGN_OR_RETURN(Ed25519Key host_key, Ed25519Key::Generate("warren-host-" + name));
  SshKeyPair host{host_key.OpensshPrivateFile(), host_key.OpensshPublicLine()};
  RETURN_IF_ERROR(WriteFileAtomically(dir / "host_key.pub", host.public_key + "\n"));
  SeedSpec seed{.instance_id = "vm-" + name,
                .hostname = name,
                .ip = ip,
                .prefix = prefix_,
                .gateway = gateway_,
                .dns = gateway_,
                .search_domain = "warren.internal",
                .mac = mac,
                .authorized_key = client_.public_key,
                .host_key = host_key,
                .user_data = ""};
  RETURN_IF_ERROR(WriteSeedIso(runner, seed, dir / "seed.iso"));

  run.at["take TAP"] = Since(t0);
  ASSIGN_OR_RETURN(MacAddress guest_mac, ParseMac(mac));
  ASSIGN_OR_RETURN(Tap tap, RunInNetns(ns_->fd(), [&]() -> Result<Tap> {
                     ASSIGN_OR_RETURN(Netlink nl, Netlink::OpenHere());
                     return CreateTapHere(nl, tap_name, kRawBridge);
                   }));
  tap_made = true;
  RETURN_IF_ERROR(SetTapMac(tap.fd.get(), TapMacFor(guest_mac)));

  run.at["launch"] = Since(t0);
  VmSpec spec;
  spec.name = name;
  spec.accel = Accel::kTcg;
  spec.cpus = 1;
  spec.memory_mib = 512;
  spec.kernel = image_.kernel;
  spec.initrd = image_.initrd;
  spec.cmdline = image_.cmdline;
  spec.disk = dir / "disk.qcow2";
  spec.seed = dir / "seed.iso";
  spec.tap_fd = kQemuTapFd;
  spec.mac = mac;
  spec.serial_log = dir / "serial.log";
  spec.qmp_socket = qmp;
  spec.pid_file = dir / "qemu.pid";
  spec.run_as = run_as_;
  RETURN_IF_ERROR(ValidateVmSpec(spec));
  std::vector<std::string> argv = BuildQemuArgv(spec);
  if (argv_out != nullptr) *argv_out = argv;
  ASSIGN_OR_RETURN(pid, SpawnQemu(argv, tap.fd.get(), dir / "qemu.log"));

  run.at["wait for SSH"] = Since(t0);
  GuestEndpoint ep{ip, 22, "root", host.public_key, client_.private_key};
  auto conn = dialer_->WaitForSsh(ep, SteadyClock::now() + std::chrono::minutes(3), {});
  if (!conn.ok()) {
    Result<std::string> log = ReadFileToString(dir / "serial.log");
    return conn.error().Annotate("raw boot " + name + "; serial log:\n" +
                                 (log.ok() ? log->substr(log->size() > 3000 ? log->size() - 3000 : 0)
                                           : ""));
  }
  run.total = Since(t0);
  run.at["ready"] = run.total;
  run.at["end"] = run.total;
  MeasureQemu(pid, run);
  return run;
}

// ---- argv comparison ----

// Paths reduced to their file name, the QMP socket's name (a VM id in warren)
// and the VM name replaced, so two VMs' argvs compare equal when only those differ.
std::string Normalize(std::string arg, const std::string& name) {
  for (size_t i = arg.find('/'); i != std::string::npos; i = arg.find('/', i + 1)) {
    if (i > 0 && arg[i - 1] != '=' && arg[i - 1] != ',') continue;
    size_t end = arg.find(',', i);
    while (end != std::string::npos && end + 1 < arg.size() && arg[end + 1] == ',') {
      end = arg.find(',', end + 2);
    }
    std::string path = arg.substr(i, end == std::string::npos ? std::string::npos : end - i);
    std::string base = fs::path(path).filename().string();
    if (base.size() > 4 && base.ends_with(".qmp")) base = "VM.qmp";
    arg.replace(i, path.size(), base);
  }
  if (arg == "guest=" + name) arg = "guest=NAME";
  return arg;
}

void CompareArgv(const std::vector<std::string>& warren_argv, const std::string& warren_name,
                 const std::vector<std::string>& raw_argv, const std::string& raw_name) {
  std::vector<std::string> a, b;
  for (const auto& x : warren_argv) a.push_back(Normalize(x, warren_name));
  for (const auto& x : raw_argv) b.push_back(Normalize(x, raw_name));
  if (!a.empty()) a[0] = fs::path(a[0]).filename().string();
  if (!b.empty()) b[0] = fs::path(b[0]).filename().string();
  if (a == b) {
    std::printf("QEMU argv: warren's and raw's are identical but for file locations and the name "
                "(%zu args)\n", a.size());
    return;
  }
  std::printf("QEMU argv DIFFERS (normalized):\n  warren:");
  for (const auto& x : a) std::printf(" %s", x.c_str());
  std::printf("\n  raw:   ");
  for (const auto& x : b) std::printf(" %s", x.c_str());
  std::printf("\n");
}

// ---- reporting ----

void PrintRun(const char* who, int i, const Run& r, bool warmup) {
  std::fprintf(stderr, "  %s #%d%s: %.2f s  [", who, i, warmup ? " (warm-up)" : "", r.total);
  for (const auto& [step, d] : StepDurations(r)) std::fprintf(stderr, " %s %.3f", step.c_str(), d);
  std::fprintf(stderr, " ] QEMU CPU %.2f s  load %s\n", r.qemu_cpu, LoadAvg().c_str());
}

void PrintStats(const char* what, const Stats& s) {
  std::printf("%-28s median %6.2f s  min %6.2f  max %6.2f  (n=%zu)\n", what, s.median, s.min,
              s.max, s.n);
}

void PrintBreakdown(const std::vector<Run>& w, const std::vector<Run>& r) {
  std::printf("%-24s %14s %14s\n", "step (median s)", "warren", "raw");
  const size_t rows = StepDurations(Run{}).size();
  for (size_t i = 0; i < rows; ++i) {
    std::vector<double> a, b;
    for (const Run& x : w) a.push_back(StepDurations(x)[i].second);
    for (const Run& x : r) b.push_back(StepDurations(x)[i].second);
    std::printf("%-24s %14.3f %14.3f\n", StepDurations(Run{})[i].first.c_str(),
                StatsOf(a).median, StatsOf(b).median);
  }
  std::vector<double> rpc, cpu_w, cpu_r;
  for (const Run& x : w) rpc.push_back(x.at.at("rpc"));
  for (const Run& x : w) cpu_w.push_back(x.qemu_cpu);
  for (const Run& x : r) cpu_r.push_back(x.qemu_cpu);
  std::printf("%-24s %14.3f %14s\n", "(vm.create RPC returned)", StatsOf(rpc).median, "-");
  std::printf("%-24s %14.2f %14.2f\n", "QEMU CPU s at ready", StatsOf(cpu_w).median,
              StatsOf(cpu_r).median);
}

// ---- the two benchmarks ----

Status CreateToReady(e2e::WarrenDaemon& d, RawEnv& raw, Runner& runner, int rounds) {
  std::vector<Run> w, r;
  for (int i = 0; i <= rounds; ++i) {
    const bool warmup = i == 0;
    const std::string wname = "w" + std::to_string(i), rname = "r" + std::to_string(i);
    ASSIGN_OR_RETURN(Run wr, WarrenCreate(d, wname));
    std::vector<pid_t> pids = d.QemuPids();
    std::vector<std::string> warren_argv;
    if (pids.size() == 1) {
      MeasureQemu(pids[0], wr);
      Result<std::vector<std::string>> argv = ProcCmdline(pids[0]);
      if (warmup && argv.ok()) warren_argv = *argv;
    }
    // The raw QEMU drops to the same user as warren's (-runas), if any.
    auto runas = std::find(warren_argv.begin(), warren_argv.end(), "-runas");
    if (warmup && runas != warren_argv.end() && runas + 1 != warren_argv.end()) {
      raw.set_run_as(*(runas + 1));
    }
    ASSIGN_OR_RETURN(json info, d.Call("vm.inspect", {{"name", wname}}));
    KeepSerialLog(d.root() / "vms" / wname / "serial.log", wname);
    RETURN_IF_ERROR(RemoveVms(d, {wname}));
    PrintRun("warren", i, wr, warmup);

    std::vector<std::string> raw_argv;
    ASSIGN_OR_RETURN(Run rr, raw.Boot(runner, rname, info.value("ip", ""), &raw_argv));
    PrintRun("raw   ", i, rr, warmup);
    if (warmup) {
      CompareArgv(warren_argv, wname, raw_argv, rname);
      continue;
    }
    w.push_back(wr);
    r.push_back(rr);
  }
  std::vector<double> wt, rt;
  for (const Run& x : w) wt.push_back(x.total);
  for (const Run& x : r) rt.push_back(x.total);
  Stats ws = StatsOf(wt), rs = StatsOf(rt);
  PrintStats("create→ready, warren", ws);
  PrintStats("create→ready, raw QEMU", rs);
  std::printf("ratio of medians warren/raw: %.3f (goal ≤ 1.05)\n", ws.median / rs.median);
  PrintBreakdown(w, r);
  return Status::Ok();
}

Status Batches(e2e::WarrenDaemon& d, int rounds) {
  std::vector<double> one, seq, conc, conc_each;
  for (int i = 0; i < rounds; ++i) {
    const std::string p = "b" + std::to_string(i);
    ASSIGN_OR_RETURN(Run single, WarrenCreate(d, p + "-one"));
    RETURN_IF_ERROR(RemoveVms(d, {p + "-one"}));
    one.push_back(single.total);

    std::vector<std::string> names;
    SteadyClock::time_point t0 = SteadyClock::now();
    for (int k = 0; k < 5; ++k) {
      names.push_back(p + "-s" + std::to_string(k));
      RETURN_IF_ERROR(WarrenCreate(d, names.back()).status());
    }
    seq.push_back(Since(t0));
    RETURN_IF_ERROR(RemoveVms(d, names));

    names.clear();
    for (int k = 0; k < 5; ++k) names.push_back(p + "-c" + std::to_string(k));
    std::vector<Result<Run>> results(5, Internal("not run"));
    std::vector<std::thread> threads;
    t0 = SteadyClock::now();
    for (int k = 0; k < 5; ++k) {
      threads.emplace_back([&, k] { results[k] = WarrenCreate(d, names[k]); });
    }
    for (auto& t : threads) t.join();
    conc.push_back(Since(t0));
    for (const auto& res : results) {
      if (!res.ok()) return res.error();
      conc_each.push_back(res->total);
    }
    RETURN_IF_ERROR(RemoveVms(d, names));
    std::fprintf(stderr, "  batch #%d: 1 = %.2f s, 5 sequential = %.2f s, 5 concurrent = %.2f s"
                 "  load %s\n", i, one.back(), seq.back(), conc.back(), LoadAvg().c_str());
  }
  Stats s1 = StatsOf(one), ss = StatsOf(seq), sc = StatsOf(conc);
  PrintStats("1 create→ready", s1);
  PrintStats("5 sequential, all ready", ss);
  PrintStats("5 concurrent, all ready", sc);
  PrintStats("  each of the 5 concurrent", StatsOf(conc_each));
  std::printf("VMs per minute: 1 at a time %.1f, 5 sequential %.1f, 5 concurrent %.1f; "
              "concurrent/sequential wall %.2f\n",
              60 / s1.median, 5 * 60 / ss.median, 5 * 60 / sc.median, sc.median / ss.median);
  return Status::Ok();
}

int Main(int rounds, int batch_rounds) {
  RealRunner runner;
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "vm_bench: %s\n", st.ToString().c_str());
    return 1;
  };
  e2e::WarrenDaemon d;
  if (Status st = d.Start(); !st.ok()) return fail(st);
  Result<json> build = d.Call("image.build", {{"name", "default"}});
  if (!build.ok()) return fail(build.error());
  if (Status st = d.WaitOp(build->value("op", "")); !st.ok()) return fail(st);
  Result<ImageFiles> image = DefaultImage(d);
  if (!image.ok()) return fail(image.error());
  Result<std::unique_ptr<RawEnv>> raw = RawEnv::Create(runner, *image);
  if (!raw.ok()) return fail(raw.error());

  const std::string load_start = LoadAvg();
  std::printf("vm_bench: %d rounds (w, r interleaved) after a warm-up pair, %d batch rounds\n",
              rounds, batch_rounds);
  if (rounds > 0) {
    if (Status st = CreateToReady(d, **raw, runner, rounds); !st.ok()) return fail(st);
  }
  if (batch_rounds > 0) {
    if (Status st = Batches(d, batch_rounds); !st.ok()) return fail(st);
  }
  std::printf("loadavg at start: %s\nloadavg at end:   %s\n", load_start.c_str(),
              LoadAvg().c_str());
  return 0;
}

}  // namespace
}  // namespace warren

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 10;
  int batch_rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  return warren::Main(rounds, batch_rounds);
}
