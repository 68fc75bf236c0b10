// warren's seed (SeedFiles: user-data, network-config, meta-data) fed to the
// cloud-init of other Debian releases than the one the stock-image e2e test
// boots: each release's own parsers and renderers, run in a minimal root of
// that release (scripts/build-cloud-init-root.sh, cached in $WARREN_TEST_CACHE)
// with `chroot ROOT cloud-init ...`. A guest boot per release would cost
// minutes under TCG; the parsers are where a seed fails (cloud-init 22.4
// refused a `to: default` route and configured nothing), and they run the same
// in a chroot.
//
// Covered: Debian 11 (bullseye, cloud-init 20.4) and Debian 13 (trixie, 25.x);
// Debian 12 (22.4) is booted for real by StockCloudImageE2eTest. Not covered:
// Ubuntu LTS, whose archive this test's machines cannot reach; its cloud-init
// versions (20.x-24.x) bracket Debian's, but netplan (Ubuntu's renderer) is
// only exercised here through cloud-init's netplan output, not netplan itself.
//
// Needs root (chroot, mmdebstrap). When the Debian mirror does not serve a
// release (no network), that release is skipped, loudly.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "image/seed.h"
#include "image/ssh_key.h"
#include "sys/runner.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr char kIp[] = "10.77.0.5", kGateway[] = "10.77.0.1", kMac[] = "52:54:00:12:34:56";

std::string CacheDir() {
  const char* cache = std::getenv("WARREN_TEST_CACHE");
  return cache != nullptr && *cache != '\0' ? fs::absolute(cache).string()
                                            : fs::temp_directory_path().string();
}

RunResult RunTool(std::vector<std::string> argv,
                  std::chrono::minutes timeout = std::chrono::minutes(2)) {
  RunSpec spec;
  spec.argv = std::move(argv);
  spec.timeout = timeout;
  spec.env = {"LANG=C.UTF-8", "LC_ALL=C.UTF-8"};
  RealRunner runner;
  Result<RunResult> r = runner.Run(spec);
  if (!r.ok()) {
    RunResult failed;
    failed.err = r.status().ToString();
    return failed;
  }
  return *r;
}

// A seed as warren makes it for a VM with every capability that writes
// cloud-config: a static address matched by MAC, DNS, extra keys, virtiofs
// mounts, and either a user script or a user #cloud-config merged in.
SeedSpec Spec(bool script) {
  Result<Ed25519Key> host_key = Ed25519Key::Generate("web1");
  CHECK(host_key.ok());
  SeedSpec s;
  s.instance_id = "vm-1234";
  s.hostname = "web1";
  s.ip = kIp;
  s.gateway = kGateway;
  s.dns = kGateway;
  s.search_domain = "warren.internal";
  s.mac = kMac;
  s.authorized_key =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM2oc1P5aTcYkrle7bEZOJC4UXjxEl4/NgyEgS7q1G3y warren";
  s.host_key = *host_key;
  s.extra_authorized_keys = {
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM2oc1P5aTcYkrle7bEZOJC4UXjxEl4/NgyEgS7q1G3z alice"};
  s.mounts = {{"warren0", "/data", false}, {"warren1", "/ref", true}};
  if (script) {
    s.user_data = "#!/bin/sh\necho hello\n";
  } else {
    s.cloud_config = {{"packages", {"curl"}},
                      {"write_files", {{{"path", "/etc/x"}, {"content", "x\n"}}}},
                      {"runcmd", json::array({json::array({"touch", "/x"})})},
                      {"timezone", "Europe/Paris"}};
  }
  CHECK(ValidateSeedSpec(s).ok());
  return s;
}

class SeedCloudInitTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string suite = GetParam();
    dir_ = fs::path(CacheDir()) / ("cloud-init-root-" + suite);
    RunResult built =
        RunTool({"bash", std::string(WARREN_SOURCE_DIR) + "/scripts/build-cloud-init-root.sh",
                 suite, dir_.string()},
                std::chrono::minutes(20));
    if (built.exit_code == 75) {
      GTEST_SKIP() << "SKIPPED LOUDLY: the Debian mirror does not serve " << suite
                   << ", so its cloud-init is not checked: " << built.err;
    }
    ASSERT_EQ(built.exit_code, 0) << built.err;
    root_ = dir_ / "root";
    RunResult version = Chroot({"cloud-init", "--version"});
    ASSERT_EQ(version.exit_code, 0) << version.err;
    std::cout << suite << ": " << version.out << version.err;
    RunResult help = Chroot({"cloud-init", "--help"});
    // `schema` left `devel` in 22.2.
    modern_schema_ = help.out.find("schema") != std::string::npos;
    // Its own directory in the shared root: ctest runs these tests in parallel.
    std::string tmpl = (root_ / "tmp" / "warren-seed-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << tmpl;
    scratch_ = tmpl;
  }
  void TearDown() override {
    if (!scratch_.empty()) fs::remove_all(scratch_);
  }

  RunResult Chroot(std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"chroot", root_.string()});
    return RunTool(std::move(argv));
  }
  // Writes the seed's files under the root; returns their path inside it.
  std::string WriteSeed(const SeedSpec& spec, const std::string& name) {
    fs::create_directories(scratch_ / name);
    for (const auto& [file, content] : SeedFiles(spec)) {
      std::ofstream(scratch_ / name / file) << content;
    }
    return "/tmp/" + scratch_.filename().string() + "/" + name;
  }
  RunResult Schema(const std::string& file, const std::string& type = "") {
    std::vector<std::string> argv = {"cloud-init"};
    if (!modern_schema_) argv.push_back("devel");
    argv.insert(argv.end(), {"schema", "--config-file", file});
    if (!type.empty()) argv.insert(argv.end(), {"--schema-type", type});
    return Chroot(argv);
  }

  fs::path dir_, root_, scratch_;
  bool modern_schema_ = false;
};

// No error, warning or traceback in what a cloud-init command printed.
void ExpectClean(const RunResult& r, const std::string& what) {
  EXPECT_EQ(r.exit_code, 0) << what << "\n" << r.out << r.err;
  for (const char* bad :
       {"Traceback", "ERROR", "WARNING", "Invalid", "not a valid", "Deprecated", "deprecated"}) {
    EXPECT_EQ(r.out.find(bad), std::string::npos) << what << " printed " << bad << ":\n" << r.out;
    EXPECT_EQ(r.err.find(bad), std::string::npos) << what << " printed " << bad << ":\n" << r.err;
  }
}

TEST_P(SeedCloudInitTest, UserDataPassesThisReleasesSchema) {
  for (bool script : {true, false}) {
    const std::string seed = WriteSeed(Spec(script), script ? "script" : "cloud-config");
    RunResult r = Schema(seed + "/user-data");
    ExpectClean(r,
                std::string("schema of user-data with a ") + (script ? "script" : "cloud-config"));
    EXPECT_NE((r.out + r.err).find("Valid"), std::string::npos) << r.out << r.err;
  }
}

TEST_P(SeedCloudInitTest, NetworkConfigRendersAddressAndDefaultRoute) {
  const std::string seed = WriteSeed(Spec(true), "net");
  RunResult help = Chroot({"cloud-init", "devel", "net-convert", "--help"});
  ASSERT_EQ(help.exit_code, 0) << help.err;
  // Releases whose schema knows network-config (23.x on) check it too.
  if (RunResult h = Chroot({"cloud-init", "schema", "--help"});
      modern_schema_ && h.out.find("network-config") != std::string::npos) {
    ExpectClean(Schema(seed + "/network-config", "network-config"), "schema of network-config");
  }
  // What each renderer this release has must contain: the address and a
  // default route via the gateway (22.4 dropped both on `to: default`).
  const std::vector<std::pair<std::string, std::vector<std::string>>> renderers = {
      {"eni", {"address " + std::string(kIp) + "/24", kGateway}},
      {"netplan", {std::string(kIp) + "/24", "via: " + std::string(kGateway), "0.0.0.0/0"}},
      {"networkd", {"Address=" + std::string(kIp) + "/24", "Gateway=" + std::string(kGateway)}},
  };
  int rendered = 0;
  for (const auto& [kind, want] : renderers) {
    if (help.out.find(kind) == std::string::npos) continue;
    ++rendered;
    const std::string out_dir = seed + "/out-" + kind;
    RunResult r =
        Chroot({"cloud-init", "devel", "net-convert", "--network-data", seed + "/network-config",
                "--kind", "yaml", "--directory", out_dir, "--distro", "debian", "--mac",
                std::string("eth0,") + kMac, "--output-kind", kind});
    ExpectClean(r, "net-convert to " + kind);
    std::string all;
    for (const auto& e : fs::recursive_directory_iterator(root_.string() + out_dir)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path());
      all += std::string(std::istreambuf_iterator<char>(in), {});
    }
    for (const std::string& w : want) {
      EXPECT_NE(all.find(w), std::string::npos) << kind << " lacks \"" << w << "\":\n" << all;
    }
    if (kind == "eni") {
      EXPECT_NE(all.find("default"), std::string::npos) << "no default route in ENI:\n" << all;
    }
  }
  EXPECT_GE(rendered, 2) << help.out;
}

INSTANTIATE_TEST_SUITE_P(Debian, SeedCloudInitTest, ::testing::Values("bullseye", "trixie"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace warren
