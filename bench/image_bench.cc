// image_bench [ROUNDS]: builds the default (minimal) image with an empty cache
// and again with the cache warm, builds the systemd flavour of the same recipe
// (same kernel package), then boots both alternately ROUNDS times (default 5)
// under TCG inside a private network namespace, timing QEMU start -> first
// key-authenticated SSH command. Prints medians. Not a unit test: timings
// depend on the machine and its load.
//
// image_bench build DIR: builds the default image into DIR (kept; the base
// tarball is cached in $WARREN_TEST_CACHE, or DIR/cache) and writes its kernel
// command line to DIR/cmdline.
// image_bench ab DIR_A DIR_B [ROUNDS]: boots two such images alternately
// (A, B, A, B, ...; default 8 rounds) with the same seed, so a change to the
// image is compared under the same machine load. Prints each boot, the
// medians and ranges, and /proc/loadavg before and after.

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "e2e/image_boot_util.h"
#include "image/builder.h"
#include "image/seed.h"
#include "sys/files.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using Seconds = std::chrono::duration<double>;

class QuietProgress : public BuildProgress {
 public:
  void Step(std::string name, double) override {
    std::fprintf(stderr, "  build: %s\n", name.c_str());
  }
  void Log(std::string) override {}
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

Result<std::pair<BuiltImage, double>> TimedBuild(Runner& runner, const Recipe& recipe,
                                                 const fs::path& staging, const fs::path& cache) {
  fs::create_directories(staging);
  DebianImageBuilder builder(runner, {});
  QuietProgress progress;
  auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(BuiltImage image, builder.Build(recipe, staging, cache, progress, {}));
  return std::make_pair(image, Seconds(std::chrono::steady_clock::now() - start).count());
}

// CPU time (user + system) used so far by our QEMU child: the boot's cost with
// the machine's other load taken out. 0 when it cannot be found.
double QemuCpuSeconds() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    Result<std::string> stat = ReadFileToString(e.path() / "stat");
    if (!stat.ok()) continue;
    // pid (comm) state ppid ... utime(14) stime(15): fields after the ')'.
    size_t close = stat->rfind(')');
    if (close == std::string::npos || stat->find("(qemu-system-x86") == std::string::npos) continue;
    std::istringstream in(stat->substr(close + 2));
    std::string state;
    long ppid = 0;
    in >> state >> ppid;
    if (ppid != ::getpid()) continue;
    std::string skip;
    for (int i = 0; i < 9; ++i) in >> skip;  // fields 5..13
    double utime = 0, stime = 0;
    in >> utime >> stime;
    return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  return 0;
}

struct Boot {
  double wall = 0;  // QEMU start -> first key-authenticated SSH command done
  double cpu = 0;   // QEMU's CPU time at that moment
};

Result<Boot> BootOnce(Runner& runner, const BuiltImage& image, const fs::path& work,
                      const e2e::GuestNet& net, const e2e::SshTarget& ssh) {
  e2e::BootFiles files{image.kernel,      image.initrd,        image.rootfs,
                       work / "seed.iso", work / "serial.log", image.cmdline};
  e2e::QemuProcess qemu(runner, e2e::TcgQemuArgv(files, net));
  ASSIGN_OR_RETURN(Seconds ready, e2e::WaitForSsh(runner, ssh, std::chrono::seconds(180)));
  Boot boot{ready.count(), QemuCpuSeconds()};
  (void)runner.Run(e2e::Spec(e2e::SshArgv(ssh, "poweroff")));
  if (!qemu.WaitExit(std::chrono::seconds(60)).has_value()) {
    std::fprintf(stderr, "  guest did not power off; killing QEMU\n");
  }
  return boot;
}

struct BootKeys {
  fs::path seed;
  e2e::SshTarget ssh;
};

// A host key, a client key and the seed that carries them, under `work`.
Result<BootKeys> MakeSeed(Runner& runner, const fs::path& work, const e2e::GuestNet& net) {
  ASSIGN_OR_RETURN(Ed25519Key host, Ed25519Key::Generate("host"));
  ASSIGN_OR_RETURN(SshKeyPair client, GenerateEd25519KeyPair("client"));
  SeedSpec seed{.instance_id = "bench",
                .hostname = "bench",
                .ip = net.guest_ip,
                .prefix = net.prefix,
                .gateway = net.host_ip,
                .dns = net.host_ip,
                .search_domain = "",
                .mac = net.mac,
                .authorized_key = client.public_key,
                .host_key = host,
                .user_data = ""};
  BootKeys keys{work / "seed.iso", {net.guest_ip, work / "client", work / "known_hosts"}};
  RETURN_IF_ERROR(WriteSeedIso(runner, seed, keys.seed));
  std::ofstream(keys.ssh.identity) << client.private_key;
  fs::permissions(keys.ssh.identity, fs::perms::owner_read | fs::perms::owner_write);
  std::ofstream(keys.ssh.known_hosts) << net.guest_ip << " " << host.OpensshPublicLine() << "\n";
  return keys;
}

std::string LoadAvg() {
  Result<std::string> s = ReadFileToString("/proc/loadavg");
  if (!s.ok()) return "?";
  std::string v = *s;
  while (!v.empty() && v.back() == '\n') v.pop_back();
  return v;
}

void PrintStats(const std::string& name, const std::vector<Boot>& boots) {
  std::vector<double> wall, cpu;
  for (const Boot& b : boots) {
    wall.push_back(b.wall);
    cpu.push_back(b.cpu);
  }
  std::printf(
      "boot-to-SSH %-8s median %.2f s  min %.2f  max %.2f  (n=%zu, TCG, 1 vCPU); "
      "QEMU CPU median %.2f s (%.2f-%.2f)\n",
      name.c_str(), Median(wall), *std::min_element(wall.begin(), wall.end()),
      *std::max_element(wall.begin(), wall.end()), wall.size(), Median(cpu),
      *std::min_element(cpu.begin(), cpu.end()), *std::max_element(cpu.begin(), cpu.end()));
}

int BuildInto(const fs::path& dir) {
  RealRunner runner;
  const char* env = std::getenv("WARREN_TEST_CACHE");
  fs::path cache = env != nullptr && *env != '\0' ? fs::path(env) : dir / "cache";
  auto built = TimedBuild(runner, DefaultRecipe(), dir, cache);
  if (!built.ok()) {
    std::fprintf(stderr, "image_bench: %s\n", built.error().ToString().c_str());
    return 1;
  }
  std::ofstream(dir / "cmdline") << built->first.cmdline;
  std::printf("built %s in %.1f s (kernel %s)\n", dir.c_str(), built->second,
              built->first.facts["kernel_version"].get<std::string>().c_str());
  return 0;
}

// A directory written by BuildInto, as a BuiltImage.
Result<BuiltImage> LoadBuilt(const fs::path& dir) {
  BuiltImage image{dir / "vmlinuz", dir / "initrd.img", dir / "rootfs.img", "", {}};
  ASSIGN_OR_RETURN(image.cmdline, ReadFileToString(dir / "cmdline"));
  return image;
}

int CompareBoots(const fs::path& dir_a, const fs::path& dir_b, int rounds) {
  RealRunner runner;
  std::string t = (fs::temp_directory_path() / "warren-image-ab-XXXXXX").string();
  if (mkdtemp(t.data()) == nullptr) return 1;
  fs::path work = t;
  auto fail = [&](const Status& st) {
    std::fprintf(stderr, "image_bench: %s\n", st.ToString().c_str());
    fs::remove_all(work);
    return 1;
  };
  auto a = LoadBuilt(dir_a);
  if (!a.ok()) return fail(a.error());
  auto b = LoadBuilt(dir_b);
  if (!b.ok()) return fail(b.error());
  e2e::GuestNet net;
  auto keys = MakeSeed(runner, work, net);
  if (!keys.ok()) return fail(keys.error());
  if (Status st = e2e::EnterPrivateNetns(runner); !st.ok()) return fail(st);
  if (Status st = e2e::SetUpTap(runner, net); !st.ok()) return fail(st);
  std::string load_before = LoadAvg();
  std::vector<Boot> ta, tb;
  for (int i = 0; i < rounds; ++i) {
    for (auto [name, image, out] : {std::tuple{"A", &*a, &ta}, std::tuple{"B", &*b, &tb}}) {
      auto r = BootOnce(runner, *image, work, net, keys->ssh);
      if (!r.ok()) return fail(r.error().Annotate(name));
      std::fprintf(stderr, "  boot %s #%d: %.2f s, QEMU CPU %.2f s  (load %s)\n", name, i + 1,
                   r->wall, r->cpu, LoadAvg().c_str());
      out->push_back(*r);
    }
  }
  std::printf("A = %s\nB = %s\n", dir_a.c_str(), dir_b.c_str());
  PrintStats("A", ta);
  PrintStats("B", tb);
  std::printf("loadavg before: %s\nloadavg after:  %s\n", load_before.c_str(), LoadAvg().c_str());
  fs::remove_all(work);
  return 0;
}

int Main(int rounds) {
  RealRunner runner;
  std::string t = (fs::temp_directory_path() / "warren-image-bench-XXXXXX").string();
  if (mkdtemp(t.data()) == nullptr) return 1;
  fs::path work = t;
  auto fail = [&](const Status& st) {
    std::fprintf(stderr, "image_bench: %s\n", st.ToString().c_str());
    fs::remove_all(work);
    return 1;
  };

  Recipe minimal = DefaultRecipe();
  Recipe systemd = DefaultRecipe();
  systemd.flavour = Flavour::kSystemd;
  systemd.ssh_server = SshServer::kOpenssh;
  std::fprintf(stderr, "building minimal (cold cache)\n");
  auto cold = TimedBuild(runner, minimal, work / "m1", work / "cache");
  if (!cold.ok()) return fail(cold.error());
  std::fprintf(stderr, "building minimal (cached base)\n");
  auto warm = TimedBuild(runner, minimal, work / "m2", work / "cache");
  if (!warm.ok()) return fail(warm.error());
  std::fprintf(stderr, "building systemd (cold cache)\n");
  auto sd = TimedBuild(runner, systemd, work / "s1", work / "cache");
  if (!sd.ok()) return fail(sd.error());

  e2e::GuestNet net;
  auto keys = MakeSeed(runner, work, net);
  if (!keys.ok()) return fail(keys.error());
  const e2e::SshTarget& ssh = keys->ssh;

  if (Status st = e2e::EnterPrivateNetns(runner); !st.ok()) return fail(st);
  if (Status st = e2e::SetUpTap(runner, net); !st.ok()) return fail(st);
  std::map<std::string, std::vector<Boot>> boots;
  for (int i = 0; i < rounds; ++i) {
    for (auto& [name, image] : {std::pair<std::string, const BuiltImage*>{"minimal", &warm->first},
                                {"systemd", &sd->first}}) {
      auto r = BootOnce(runner, *image, work, net, ssh);
      if (!r.ok()) return fail(r.error().Annotate(name));
      std::fprintf(stderr, "  boot %s #%d: %.2f s, QEMU CPU %.2f s\n", name.c_str(), i + 1,
                   r->wall, r->cpu);
      boots[name].push_back(*r);
    }
  }
  std::printf("build minimal, cold cache : %6.1f s\n", cold->second);
  std::printf("build minimal, cached base: %6.1f s\n", warm->second);
  std::printf("build systemd, cold cache : %6.1f s\n", sd->second);
  for (const auto& [name, v] : boots) PrintStats(name, v);
  std::printf("kernel %s for both\n",
              warm->first.facts["kernel_version"].get<std::string>().c_str());
  fs::remove_all(work);
  return 0;
}

}  // namespace
}  // namespace warren

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "build" && argc == 3) return warren::BuildInto(argv[2]);
  if (mode == "ab" && (argc == 4 || argc == 5)) {
    return warren::CompareBoots(argv[2], argv[3], argc == 5 ? std::atoi(argv[4]) : 8);
  }
  if (mode == "build" || mode == "ab") {
    std::fprintf(stderr, "usage: image_bench [ROUNDS] | build DIR | ab DIR_A DIR_B [ROUNDS]\n");
    return 2;
  }
  return warren::Main(argc > 1 ? std::atoi(argv[1]) : 5);
}
