// Builds the default image with the real builder, boots it under QEMU (TCG)
// in a private network namespace, and checks it reaches "SSH ready" with the
// seed's keys, runs a command, and powers off. Needs root, mmdebstrap and
// network access to the host's Debian mirror. The base tarball is cached in
// $WARREN_TEST_CACHE when set (a temp dir otherwise).

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "e2e/image_boot_util.h"
#include "image/builder.h"
#include "image/seed.h"

namespace warren {
namespace {

namespace fs = std::filesystem;

class StderrProgress : public BuildProgress {
 public:
  void Step(std::string name, double fraction) override {
    std::fprintf(stderr, "[build %3.0f%%] %s\n", fraction * 100, name.c_str());
  }
  void Log(std::string line) override {}
};

fs::path MakeTempDir(const std::string& stem) {
  std::string t = (fs::temp_directory_path() / (stem + "-XXXXXX")).string();
  CHECK(mkdtemp(t.data()) != nullptr);
  return t;
}

class ImageBootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = MakeTempDir("warren-image-e2e");
    const char* cache = std::getenv("WARREN_TEST_CACHE");
    if (cache != nullptr && *cache != '\0') {
      cache_ = cache;
    } else {
      cache_ = work_ / "cache";
      temp_cache_ = true;
    }
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(work_, ec);
  }

  fs::path work_, cache_;
  bool temp_cache_ = false;
  RealRunner runner_;
};

TEST_F(ImageBootTest, DefaultImageBootsToSshAndPowersOff) {
  // 1. Build (needs the host's network, so before entering the namespace).
  fs::path staging = work_ / "staging";
  fs::create_directories(staging);
  DebianImageBuilder builder(runner_, {});
  StderrProgress progress;
  Result<BuiltImage> image = builder.Build(DefaultRecipe(), staging, cache_, progress, {});
  ASSERT_TRUE(image.ok()) << image.error().ToString();
  EXPECT_EQ(image->facts["flavour"], "minimal");
  // Debian's LZ4 bzImage is unpacked so QEMU boots the vmlinux through PVH.
  EXPECT_EQ(image->facts["kernel_format"], "elf-pvh");

  // 2. Keys and seed.
  Result<Ed25519Key> host = Ed25519Key::Generate("host");
  Result<SshKeyPair> client = GenerateEd25519KeyPair("client");
  ASSERT_TRUE(host.ok() && client.ok());
  e2e::GuestNet net;
  SeedSpec seed{.instance_id = "e2e-1",
                .hostname = "e2e",
                .ip = net.guest_ip,
                .prefix = net.prefix,
                .gateway = net.host_ip,
                .dns = net.host_ip,
                .search_domain = "vm.warren",
                .mac = net.mac,
                .authorized_key = client->public_key,
                .host_key = *host,
                .user_data = "#!/bin/sh\necho ran >/root/user-data-ran\n"};
  ASSERT_TRUE(WriteSeedIso(runner_, seed, work_ / "seed.iso").ok());
  e2e::SshTarget ssh{net.guest_ip, work_ / "client", work_ / "known_hosts"};
  {
    std::ofstream(ssh.identity) << client->private_key;
    fs::permissions(ssh.identity, fs::perms::owner_read | fs::perms::owner_write);
    std::ofstream(ssh.known_hosts) << net.guest_ip << " " << host->OpensshPublicLine() << "\n";
  }

  // 3. Private namespace, TAP, QEMU.
  ASSERT_TRUE(e2e::EnterPrivateNetns(runner_).ok());
  ASSERT_TRUE(e2e::SetUpTap(runner_, net).ok());
  e2e::BootFiles files{image->kernel,      image->initrd,        image->rootfs,
                       work_ / "seed.iso", work_ / "serial.log", image->cmdline};
  e2e::QemuProcess qemu(runner_, e2e::TcgQemuArgv(files, net));

  auto ready = e2e::WaitForSsh(runner_, ssh, std::chrono::seconds(90));
  ASSERT_TRUE(ready.ok()) << ready.error().ToString();
  std::fprintf(stderr, "SSH ready after %.2f s\n", ready->count());

  Result<std::string> uname = RunAndCheck(runner_, e2e::Spec(e2e::SshArgv(ssh, "uname -r")));
  ASSERT_TRUE(uname.ok()) << uname.error().ToString();
  EXPECT_EQ(*uname, image->facts["kernel_version"].get<std::string>() + "\n");
  Result<std::string> host_name = RunAndCheck(runner_, e2e::Spec(e2e::SshArgv(ssh, "hostname")));
  ASSERT_TRUE(host_name.ok());
  EXPECT_EQ(*host_name, "e2e\n");

  // user-data runs after sshd starts; give it a moment.
  bool user_data_ran = false;
  for (int i = 0; i < 50 && !user_data_ran; ++i) {
    Result<RunResult> r = runner_.Run(e2e::Spec(e2e::SshArgv(ssh, "cat /root/user-data-ran")));
    user_data_ran = r.ok() && r->exit_code == 0 && r->out == "ran\n";
    if (!user_data_ran) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(user_data_ran);

  // 4. Guest poweroff ends QEMU on its own (the session may drop: ignore ssh's exit).
  (void)runner_.Run(e2e::Spec(e2e::SshArgv(ssh, "poweroff")));
  auto exited = qemu.WaitExit(std::chrono::seconds(30));
  ASSERT_TRUE(exited.has_value()) << "QEMU still running 30 s after guest poweroff";
  ASSERT_TRUE(exited->ok()) << exited->error().ToString();
  EXPECT_EQ((*exited)->exit_code, 0) << (*exited)->err;
}

}  // namespace
}  // namespace warren
