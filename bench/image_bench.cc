// image_bench [ROUNDS]: builds the default (minimal) image with an empty cache
// and again with the cache warm, builds the systemd flavour of the same recipe
// (same kernel package), then boots both alternately ROUNDS times (default 5)
// under TCG inside a private network namespace, timing QEMU start -> first
// key-authenticated SSH command. Prints medians. Not a unit test: timings
// depend on the machine and its load.

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "e2e/image_boot_util.h"
#include "image/builder.h"
#include "image/seed.h"

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

Result<double> BootOnce(Runner& runner, const BuiltImage& image, const fs::path& work,
                        const e2e::GuestNet& net, const e2e::SshTarget& ssh) {
  e2e::BootFiles files{image.kernel,      image.initrd,        image.rootfs,
                       work / "seed.iso", work / "serial.log", image.cmdline};
  e2e::QemuProcess qemu(runner, e2e::TcgQemuArgv(files, net));
  ASSIGN_OR_RETURN(Seconds ready, e2e::WaitForSsh(runner, ssh, std::chrono::seconds(180)));
  (void)runner.Run(e2e::Spec(e2e::SshArgv(ssh, "poweroff")));
  if (!qemu.WaitExit(std::chrono::seconds(60)).has_value()) {
    std::fprintf(stderr, "  guest did not power off; killing QEMU\n");
  }
  return ready.count();
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

  auto host = GenerateEd25519KeyPair(runner, work, "host");
  auto client = GenerateEd25519KeyPair(runner, work, "client");
  if (!host.ok() || !client.ok()) return fail(Internal("ssh-keygen failed"));
  e2e::GuestNet net;
  SeedSpec seed{.instance_id = "bench",
                .hostname = "bench",
                .ip = net.guest_ip,
                .prefix = net.prefix,
                .gateway = net.host_ip,
                .dns = net.host_ip,
                .search_domain = "",
                .mac = net.mac,
                .authorized_key = client->public_key,
                .host_key_ed25519_private = host->private_key,
                .host_key_ed25519_public = host->public_key,
                .user_data = ""};
  if (Status st = WriteSeedIso(runner, seed, work / "seed.iso"); !st.ok()) return fail(st);
  e2e::SshTarget ssh{net.guest_ip, work / "client", work / "known_hosts"};
  std::ofstream(ssh.identity) << client->private_key;
  fs::permissions(ssh.identity, fs::perms::owner_read | fs::perms::owner_write);
  std::ofstream(ssh.known_hosts) << net.guest_ip << " " << host->public_key << "\n";

  if (Status st = e2e::EnterPrivateNetns(runner); !st.ok()) return fail(st);
  if (Status st = e2e::SetUpTap(runner, net); !st.ok()) return fail(st);
  std::map<std::string, std::vector<double>> boots;
  for (int i = 0; i < rounds; ++i) {
    for (auto& [name, image] : {std::pair<std::string, const BuiltImage*>{"minimal", &warm->first},
                                {"systemd", &sd->first}}) {
      auto r = BootOnce(runner, *image, work, net, ssh);
      if (!r.ok()) return fail(r.error().Annotate(name));
      std::fprintf(stderr, "  boot %s #%d: %.2f s\n", name.c_str(), i + 1, *r);
      boots[name].push_back(*r);
    }
  }
  std::printf("build minimal, cold cache : %6.1f s\n", cold->second);
  std::printf("build minimal, cached base: %6.1f s\n", warm->second);
  std::printf("build systemd, cold cache : %6.1f s\n", sd->second);
  for (const auto& [name, v] : boots) {
    std::printf("boot-to-SSH %-8s median %.2f s  min %.2f  max %.2f  (n=%zu, TCG, 1 vCPU)\n",
                name.c_str(), Median(v), *std::min_element(v.begin(), v.end()),
                *std::max_element(v.begin(), v.end()), v.size());
  }
  std::printf("kernel %s for both\n",
              warm->first.facts["kernel_version"].get<std::string>().c_str());
  fs::remove_all(work);
  return 0;
}

}  // namespace
}  // namespace warren

int main(int argc, char** argv) { return warren::Main(argc > 1 ? std::atoi(argv[1]) : 5); }
