#include "image/builder.h"
#include "image/guest/assets.h"

#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "fakes/fake_runner.h"
#include "image/builder_steps.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

RunResult Exit(int code, std::string out = "", std::string err = "") {
  RunResult r;
  r.exit_code = code;
  r.out = std::move(out);
  r.err = std::move(err);
  return r;
}

constexpr char kVersion[] = "6.1.0-test-cloud-amd64";

void Touch(const fs::path& p, const std::string& content = "x") {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << content;
}

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// What a base tarball unpacks to, reduced to what the builder touches.
void MakeFakeRoot(const fs::path& root, const fs::path& outside) {
  fs::path mods = root / "lib/modules" / kVersion;
  const char* kos[] = {"kernel/drivers/virtio/virtio.ko",
                       "kernel/drivers/virtio/virtio_pci.ko",
                       "kernel/drivers/block/virtio_blk.ko",
                       "kernel/drivers/net/virtio_net.ko",
                       "kernel/drivers/cdrom/cdrom.ko",
                       "kernel/fs/isofs/isofs.ko",
                       "kernel/sound/snd.ko"};
  for (const char* ko : kos) Touch(mods / ko);
  Touch(mods / "modules.dep",
        "kernel/drivers/virtio/virtio.ko:\n"
        "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko\n"
        "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko\n"
        "kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko\n"
        "kernel/drivers/cdrom/cdrom.ko:\n"
        "kernel/fs/isofs/isofs.ko: kernel/drivers/cdrom/cdrom.ko\n"
        "kernel/sound/snd.ko:\n");
  Touch(root / "boot" / (std::string("vmlinuz-") + kVersion), "kernel");
  Touch(root / "boot" / (std::string("initrd.img-") + kVersion));
  Touch(root / "bin/busybox", "busybox");
  Touch(root / "etc/ssh/ssh_host_rsa_key");
  fs::create_directories(root / "usr/sbin");
  fs::create_symlink("/usr/sbin",
                     root / "sbin");               // absolute: must resolve inside root
  fs::create_symlink(outside, root / "etc/acpi");  // points at a host dir: must not escape
  fs::create_symlink("/run/resolv.conf", root / "etc/resolv.conf");
}

class RecordingProgress : public BuildProgress {
 public:
  void Step(std::string name, double fraction) override { steps.push_back(name); }
  void Log(std::string line) override { lines.push_back(line); }
  std::vector<std::string> steps, lines;
};

class BuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = (fs::temp_directory_path() / "warren-builder-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(t.data()), nullptr);
    dir_ = t;
    fs::create_directories(dir_ / "apt/sources.list.d");
    Touch(dir_ / "apt/sources.list.d/debian.sources", "Types: deb\n");
    Touch(dir_ / "apt/sources.list", "");  // empty: not passed
    fs::create_directories(dir_ / "outside");
    runner_.OnCall({"mmdebstrap"}, [](const RunSpec& s, std::stop_token) -> Result<RunResult> {
      for (const std::string& a : s.argv) {
        if (a.find(".tar.tmp-") != std::string::npos) Touch(a, "tarball");
      }
      return Exit(0, "I: success\n");
    });
    runner_.OnCall({"tar"}, [this](const RunSpec& s, std::stop_token) -> Result<RunResult> {
      MakeFakeRoot(s.argv.back(), dir_ / "outside");
      return Exit(0);
    });
    runner_.On({"chroot"}, Exit(0));
    runner_.OnCall({"cpio"}, [this](const RunSpec& s, std::stop_token) -> Result<RunResult> {
      cpio_list_ = s.stdin_data;
      cpio_order_ = Slurp(fs::path(s.cwd) / "modules/order");
      Touch(s.argv.back(), "cpio");
      return Exit(0);
    });
    runner_.OnCall({"mkfs.ext4"}, [](const RunSpec& s, std::stop_token) -> Result<RunResult> {
      Touch(s.argv[7], "ext4");
      return Exit(0);
    });
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<BuiltImage> Build(const Recipe& r, const std::string& staging, std::stop_token stop = {}) {
    fs::create_directories(dir_ / staging);
    DebianImageBuilder builder(runner_, {.apt_dir = dir_ / "apt"});
    return builder.Build(r, dir_ / staging, dir_ / "cache", progress_, stop);
  }

  fs::path dir_;
  FakeRunner runner_;
  RecordingProgress progress_;
  std::string cpio_list_, cpio_order_;
};

TEST_F(BuilderTest, MinimalStepSequenceGolden) {
  Result<BuiltImage> img = Build(DefaultRecipe(), "s1");
  ASSERT_TRUE(img.ok()) << img.error().ToString();
  fs::path root = dir_ / "s1/root";
  std::string key = CacheKey("base", DefaultRecipe());
  auto calls = runner_.calls();
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_THAT(calls[0],
              ElementsAre("mmdebstrap", "--variant=apt", "--format=tar",
                          "--include=busybox-static,dropbear-bin,kmod,linux-image-cloud-amd64,"
                          "tiny-initramfs",
                          "--dpkgopt=path-exclude=/usr/share/man/*",
                          "--dpkgopt=path-exclude=/usr/share/doc/*",
                          "--dpkgopt=path-include=/usr/share/doc/*/copyright",
                          "--dpkgopt=path-exclude=/usr/share/locale/*", "bookworm",
                          HasSubstr((dir_ / "cache" / ("base-" + key + ".tar.tmp-")).string()),
                          (dir_ / "apt/sources.list.d/debian.sources").string()));
  EXPECT_THAT(calls[1], ElementsAre("tar", "--numeric-owner", "-xpf",
                                    (dir_ / "cache" / ("base-" + key + ".tar")).string(), "-C",
                                    root.string()));
  EXPECT_THAT(calls[2], ElementsAre("chroot", root.string(), "depmod", "-a", kVersion));
  EXPECT_THAT(calls[3], ElementsAre("cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0", "-O",
                                    (dir_ / "s1/initrd.img").string()));
  EXPECT_THAT(calls[4], ElementsAre("mkfs.ext4", "-q", "-F", "-L", "root", "-d", root.string(),
                                    (dir_ / "s1/rootfs.img").string(), "1024M"));
  EXPECT_THAT(progress_.steps, ElementsAre("base", "extract", "configure", "recipe", "kernel",
                                           "initramfs", "rootfs", "cleanup", "done"));
  EXPECT_THAT(progress_.lines, Contains("I: success"));

  EXPECT_EQ(Slurp(img->kernel), "kernel");
  EXPECT_TRUE(fs::exists(img->initrd));
  EXPECT_TRUE(fs::exists(img->rootfs));
  EXPECT_FALSE(fs::exists(root)) << "the unpacked root is removed after mkfs";
  EXPECT_THAT(img->cmdline, HasSubstr("root=/dev/vda"));
  EXPECT_EQ(img->facts["flavour"], "minimal");
  EXPECT_EQ(img->facts["ssh_server"], "dropbear");
  EXPECT_EQ(img->facts["kernel_version"], kVersion);
  EXPECT_EQ(img->facts["guest_agent"], true) << "every built image serves the guest agent";
  EXPECT_EQ(cpio_order_, "virtio\nvirtio_pci\nvirtio_blk\nvirtio_net\ncdrom\nisofs\n");
  EXPECT_THAT(cpio_list_, HasSubstr("\ninit\n"));
  EXPECT_THAT(cpio_list_, HasSubstr("dev/console\n"));
  EXPECT_THAT(cpio_list_, HasSubstr("modules/isofs.ko\n"));
  EXPECT_THAT(cpio_list_, HasSubstr("early-seed\n")) << "minimal: the initramfs applies the seed";
}

TEST_F(BuilderTest, InstallsMinimalGuestFilesInsideTheRootOnly) {
  // Keep the root to inspect it: fail the last step.
  runner_.On({"mkfs.ext4"}, Exit(1, "", "disk full\n"));
  Result<BuiltImage> img = Build(DefaultRecipe(), "s");
  ASSERT_FALSE(img.ok());
  EXPECT_THAT(img.error().message(), HasSubstr("disk full"));
  fs::path root = dir_ / "s/root";
  EXPECT_EQ(fs::read_symlink(root / "usr/sbin/init"), "/bin/busybox");
  EXPECT_TRUE(fs::exists(root / "etc/inittab"));
  EXPECT_TRUE(fs::exists(root / "usr/lib/warren/apply-seed"));
  EXPECT_TRUE(fs::exists(root / dir_.relative_path() / "outside/PWRF/00000080"));
  EXPECT_TRUE(fs::is_empty(dir_ / "outside")) << "a guest symlink redirected a write to the host";
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(root / "etc/resolv.conf")));
  EXPECT_FALSE(fs::exists(root / "etc/ssh/ssh_host_rsa_key"));
  EXPECT_FALSE(fs::exists(root / "boot" / (std::string("initrd.img-") + kVersion)));
  EXPECT_FALSE(fs::exists(root / "lib/modules" / kVersion / "kernel/sound/snd.ko"));
  EXPECT_TRUE(fs::exists(root / "lib/modules" / kVersion / "kernel/fs/isofs/isofs.ko"));
  struct stat st {};
  ASSERT_EQ(::stat((root / "usr/lib/warren/late").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  ASSERT_EQ(::stat((root / "root/.ssh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_THAT(Slurp(root / "etc/inittab"),
              HasSubstr("\n::respawn:/usr/lib/warren/warren-sshd /usr/sbin/dropbear -F -E -s -p 22 -r "
                        "/run/warren/seed/dropbear_ed25519_host_key\n"));
  EXPECT_THAT(Slurp(root / "etc/inittab"), HasSubstr("\n::respawn:/usr/lib/warren/warren-agent\n"));
  for (const char* tool : {"warren-agent", "warren-sshd"}) {
    ASSERT_EQ(::stat((root / "usr/lib/warren" / tool).c_str(), &st), 0) << tool;
    EXPECT_EQ(st.st_mode & 0777, 0755u) << tool;
  }
  // The agent is the embedded program, static: no interpreter to load, so it
  // runs in any x86-64 guest whatever its libraries.
  const std::string agent = Slurp(root / "usr/lib/warren/warren-agent");
  EXPECT_EQ(agent, std::string(GuestAgentProgram()));
  ASSERT_GT(agent.size(), sizeof(Elf64_Ehdr));
  Elf64_Ehdr eh;
  std::memcpy(&eh, agent.data(), sizeof(eh));
  ASSERT_EQ(std::memcmp(eh.e_ident, ELFMAG, SELFMAG), 0);
  EXPECT_EQ(eh.e_machine, EM_X86_64);
  ASSERT_LE(eh.e_phoff + size_t{eh.e_phnum} * sizeof(Elf64_Phdr), agent.size());
  for (int i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, agent.data() + eh.e_phoff + i * sizeof(Elf64_Phdr), sizeof(ph));
    EXPECT_NE(ph.p_type, static_cast<uint32_t>(PT_INTERP)) << "the agent is dynamically linked";
  }
}

// OpenSSH straight under init (it reloads its keys on SIGHUP); dropbear under
// warren-sshd, which restarts it at once when the agent ends it.
TEST(MinimalInittabTest, RespawnsTheImagesSshServer) {
  std::string dropbear = build::MinimalInittab(SshServer::kDropbear);
  std::string openssh = build::MinimalInittab(SshServer::kOpenssh);
  EXPECT_THAT(openssh, HasSubstr("\n::respawn:/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config\n"));
  EXPECT_THAT(dropbear, HasSubstr("\n::respawn:/usr/lib/warren/warren-sshd /usr/sbin/dropbear -F "));
  EXPECT_THAT(dropbear, HasSubstr("::once:/usr/lib/warren/late\n"));
  EXPECT_THAT(dropbear, Not(HasSubstr("::sysinit:")))
      << "the initramfs did the sysinit work; nothing may delay the SSH server";
  EXPECT_THAT(dropbear + openssh, Not(HasSubstr("::respawn:@SSHD@")));
}

TEST_F(BuilderTest, SecondBuildReusesTheCachedBase) {
  ASSERT_TRUE(Build(DefaultRecipe(), "a").ok());
  ASSERT_TRUE(Build(DefaultRecipe(), "b").ok());
  EXPECT_EQ(runner_.CallCount({"mmdebstrap"}), 1);
  EXPECT_EQ(runner_.CallCount({"tar"}), 2);
  EXPECT_THAT(progress_.lines, Contains(HasSubstr("cache hit")));
  Recipe other = DefaultRecipe();
  other.packages = {"curl"};
  ASSERT_TRUE(Build(other, "c").ok());
  EXPECT_EQ(runner_.CallCount({"mmdebstrap"}), 2);
  Result<std::vector<CacheEntry>> cache = ListCache(dir_ / "cache");
  ASSERT_TRUE(cache.ok());
  ASSERT_EQ(cache->size(), 2u);
  EXPECT_THAT(
      (std::vector<std::string>{(*cache)[0].key, (*cache)[1].key}),
      ::testing::UnorderedElementsAre(CacheKey("base", DefaultRecipe()), CacheKey("base", other)));
  Result<uint64_t> freed = PruneCache(dir_ / "cache");
  ASSERT_TRUE(freed.ok());
  EXPECT_EQ(*freed, 2 * std::string("tarball").size());
  EXPECT_TRUE(ListCache(dir_ / "cache")->empty());
}

TEST_F(BuilderTest, RecipeFilesAndCommandsRunInTheRoot) {
  Recipe r = DefaultRecipe();
  r.files = {{"/etc/motd", "hi\n", 0600}};
  r.commands = {{"apt-get", "clean"}};
  runner_.On({"mkfs.ext4"}, Exit(1));  // keep the root
  ASSERT_FALSE(Build(r, "s").ok());
  fs::path root = dir_ / "s/root";
  EXPECT_EQ(Slurp(root / "etc/motd"), "hi\n");
  auto specs = runner_.specs();
  auto it = std::find_if(specs.begin(), specs.end(), [](const RunSpec& s) {
    return s.argv.size() > 2 && s.argv[2] == "apt-get";
  });
  ASSERT_NE(it, specs.end());
  EXPECT_THAT(it->argv, ElementsAre("chroot", root.string(), "apt-get", "clean"));
  EXPECT_FALSE(it->inherit_env);
  EXPECT_THAT(it->env, Contains(HasSubstr("PATH=")));
}

TEST_F(BuilderTest, SystemdFlavourEnablesTheSeedUnitAndKeepsModules) {
  Recipe r = DefaultRecipe();
  r.flavour = Flavour::kSystemd;
  r.ssh_server = SshServer::kOpenssh;
  runner_.On({"mkfs.ext4"}, Exit(1));
  ASSERT_FALSE(Build(r, "s").ok());
  fs::path units = dir_ / "s/root/etc/systemd/system";
  EXPECT_EQ(fs::read_symlink(units / "sysinit.target.wants/warren-seed.service"),
            "/etc/systemd/system/warren-seed.service");
  EXPECT_TRUE(fs::exists(units / "warren-user-data.service"));
  EXPECT_EQ(fs::read_symlink(units / "multi-user.target.wants/warren-agent.service"),
            "/etc/systemd/system/warren-agent.service");
  EXPECT_TRUE(fs::exists(dir_ / "s/root/usr/lib/warren/warren-agent"));
  EXPECT_FALSE(fs::exists(dir_ / "s/root/etc/inittab"));
  EXPECT_TRUE(fs::exists(dir_ / "s/root/etc/ssh/sshd_config"));
  EXPECT_FALSE(runner_.Called({"chroot"})) << "no depmod: modules are not pruned";
  EXPECT_THAT(cpio_list_, Not(HasSubstr("early-seed"))) << "systemd applies the seed itself";
  EXPECT_TRUE(fs::exists(dir_ / "s/root/lib/modules" / kVersion / "kernel/sound/snd.ko"));
}

TEST_F(BuilderTest, FailedBaseLeavesNoCacheDebris) {
  runner_.On({"mmdebstrap"}, Exit(1, "", "E: cannot reach mirror\n"));
  Result<BuiltImage> img = Build(DefaultRecipe(), "s");
  ASSERT_FALSE(img.ok());
  EXPECT_THAT(img.error().message(), HasSubstr("mmdebstrap"));
  EXPECT_THAT(img.error().message(), HasSubstr("cannot reach mirror"));
  EXPECT_TRUE(fs::is_empty(dir_ / "cache"));
}

TEST_F(BuilderTest, CancelledMidStepStopsTheBuild) {
  std::stop_source stop;
  runner_.OnCall({"mmdebstrap"}, [&](const RunSpec&, std::stop_token) -> Result<RunResult> {
    stop.request_stop();
    return Cancelled("killed");
  });
  Result<BuiltImage> img = Build(DefaultRecipe(), "s", stop.get_token());
  ASSERT_FALSE(img.ok());
  EXPECT_EQ(img.error().code(), Code::kCancelled);
  EXPECT_FALSE(runner_.Called({"tar"}));
}

TEST_F(BuilderTest, NoAptSourcesIsAClearError) {
  fs::remove_all(dir_ / "apt");
  Result<BuiltImage> img = Build(DefaultRecipe(), "s");
  ASSERT_FALSE(img.ok());
  EXPECT_EQ(img.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(img.error().message(), HasSubstr("apt sources"));
}

}  // namespace
}  // namespace warren
