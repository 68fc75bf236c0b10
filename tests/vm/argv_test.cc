#include "vm/qemu/argv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace warren {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

VmSpec FullSpec() {
  VmSpec s;
  s.name = "web";
  s.accel = Accel::kTcg;
  s.cpus = 1;
  s.memory_mib = 512;
  s.kernel = "/var/lib/warren/images/deb/vmlinuz";
  s.initrd = "/var/lib/warren/images/deb/initrd.img";
  s.cmdline = "console=ttyS0 root=/dev/vda quiet net.ifnames=0";
  s.disk = "/var/lib/warren/vms/web/disk.qcow2";
  s.seed = "/var/lib/warren/vms/web/seed.iso";
  s.tap_fd = kQemuTapFd;
  s.mac = "52:54:00:12:34:56";
  s.serial_log = "/var/lib/warren/vms/web/serial.log";
  s.qmp_socket = "/run/warren/vms/web/qmp.sock";
  s.agent_socket = "/run/warren/vms/web.agent";
  return s;
}

TEST(BuildQemuArgvTest, TcgGolden) {
  // clang-format off: one flag and its value per line, like the command line reads.
  const std::vector<std::string> want = {
      "qemu-system-x86_64",
      "-name",
      "guest=web",
      "-msg",
      "timestamp=on",
      "-machine",
      "q35,i8042=off,sata=off,smbus=off,usb=off,vmport=off",
      "-accel",
      "tcg,tb-size=32",
      "-cpu",
      "max",
      "-smp",
      "1",
      "-m",
      "512M",
      "-nodefaults",
      "-no-user-config",
      "-nographic",
      "-no-reboot",
      "-bios",
      "/usr/share/qemu/qboot.rom",
      "-kernel",
      "/var/lib/warren/images/deb/vmlinuz",
      "-initrd",
      "/var/lib/warren/images/deb/initrd.img",
      "-append",
      "console=ttyS0 root=/dev/vda quiet net.ifnames=0",
      "-blockdev",
      "driver=qcow2,node-name=disk0,discard=unmap,file.driver=file,"
      "file.filename=/var/lib/warren/vms/web/disk.qcow2",
      "-device",
      "virtio-blk-pci,drive=disk0,id=vda",
      "-blockdev",
      "driver=raw,node-name=seed0,read-only=on,file.driver=file,file.read-only=on,"
      "file.filename=/var/lib/warren/vms/web/seed.iso",
      "-device",
      "virtio-blk-pci,drive=seed0,id=vdb",
      "-netdev",
      "tap,id=net0,fd=3",
      "-device",
      "virtio-net-pci,netdev=net0,romfile=,mac=52:54:00:12:34:56",
      "-chardev",
      "file,id=serial0,path=/var/lib/warren/vms/web/serial.log",
      "-serial",
      "chardev:serial0",
      "-chardev",
      "socket,id=qmp0,path=/run/warren/vms/web/qmp.sock,server=on,wait=off",
      "-mon",
      "chardev=qmp0,mode=control",
      "-device",
      "virtio-serial-pci,id=vser0",
      "-chardev",
      "socket,id=agent0,path=/run/warren/vms/web.agent,server=on,wait=off",
      "-device",
      "virtconsole,bus=vser0.0,chardev=agent0,name=org.warren.agent.0",
      "-object",
      "rng-random,id=rng0,filename=/dev/urandom",
      "-device",
      "virtio-rng-pci,rng=rng0",
      "-sandbox",
      "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
  };
  // clang-format on
  ASSERT_TRUE(ValidateVmSpec(FullSpec()).ok());
  EXPECT_THAT(BuildQemuArgv(FullSpec()), ElementsAreArray(want));
}

TEST(BuildQemuArgvTest, KvmGoldenWithRunAsAndPidFile) {
  VmSpec s = FullSpec();
  s.accel = Accel::kKvm;
  s.cpus = 4;
  s.memory_mib = 2048;
  s.qemu_binary = "/usr/bin/qemu-system-x86_64";
  s.initrd.clear();
  s.seed.clear();
  s.tap_fd = -1;
  s.pid_file = "/run/warren/vms/web/qemu.pid";
  s.run_as = "warren-vm";
  // clang-format off: one flag and its value per line, like the command line reads.
  const std::vector<std::string> want = {
      "/usr/bin/qemu-system-x86_64",
      "-name",
      "guest=web",
      "-msg",
      "timestamp=on",
      "-machine",
      "q35,i8042=off,sata=off,smbus=off,usb=off,vmport=off",
      "-accel",
      "kvm",
      "-cpu",
      "host",
      "-smp",
      "4",
      "-m",
      "2048M",
      "-nodefaults",
      "-no-user-config",
      "-nographic",
      "-no-reboot",
      "-bios",
      "/usr/share/qemu/qboot.rom",
      "-kernel",
      "/var/lib/warren/images/deb/vmlinuz",
      "-append",
      "console=ttyS0 root=/dev/vda quiet net.ifnames=0",
      "-blockdev",
      "driver=qcow2,node-name=disk0,discard=unmap,file.driver=file,"
      "file.filename=/var/lib/warren/vms/web/disk.qcow2",
      "-device",
      "virtio-blk-pci,drive=disk0,id=vda",
      "-chardev",
      "file,id=serial0,path=/var/lib/warren/vms/web/serial.log",
      "-serial",
      "chardev:serial0",
      "-chardev",
      "socket,id=qmp0,path=/run/warren/vms/web/qmp.sock,server=on,wait=off",
      "-mon",
      "chardev=qmp0,mode=control",
      "-device",
      "virtio-serial-pci,id=vser0",
      "-chardev",
      "socket,id=agent0,path=/run/warren/vms/web.agent,server=on,wait=off",
      "-device",
      "virtconsole,bus=vser0.0,chardev=agent0,name=org.warren.agent.0",
      "-object",
      "rng-random,id=rng0,filename=/dev/urandom",
      "-device",
      "virtio-rng-pci,rng=rng0",
      "-pidfile",
      "/run/warren/vms/web/qemu.pid",
      // -runas needs setuid after the filter is in place (see argv.h).
      "-sandbox",
      "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny",
      "-runas",
      "warren-vm",
  };
  // clang-format on
  ASSERT_TRUE(ValidateVmSpec(s).ok());
  EXPECT_THAT(BuildQemuArgv(s), ElementsAreArray(want));
}

TEST(BuildQemuArgvTest, MultiCpuTcgUsesMultiThreadedTcg) {
  VmSpec s = FullSpec();
  s.cpus = 2;
  std::vector<std::string> argv = BuildQemuArgv(s);
  auto it = std::find(argv.begin(), argv.end(), "-accel");
  ASSERT_NE(it, argv.end());
  EXPECT_EQ(*(it + 1), "tcg,thread=multi,tb-size=32");
  auto cpu = std::find(argv.begin(), argv.end(), "-cpu");
  ASSERT_NE(cpu, argv.end());
  EXPECT_EQ(*(cpu + 1), "max");
}

TEST(BuildQemuArgvTest, TcgTranslationCacheSizeIsRenderedOrLeftToQemu) {
  VmSpec s = FullSpec();
  s.tcg_tb_mib = 16;
  std::vector<std::string> argv = BuildQemuArgv(s);
  auto it = std::find(argv.begin(), argv.end(), "-accel");
  ASSERT_NE(it, argv.end());
  EXPECT_EQ(*(it + 1), "tcg,tb-size=16");
  s.tcg_tb_mib = 0;  // QEMU's own default: no tb-size at all
  argv = BuildQemuArgv(s);
  it = std::find(argv.begin(), argv.end(), "-accel");
  EXPECT_EQ(*(it + 1), "tcg");
  s.accel = Accel::kKvm;  // KVM has no translation cache
  s.tcg_tb_mib = 32;
  argv = BuildQemuArgv(s);
  it = std::find(argv.begin(), argv.end(), "-accel");
  EXPECT_EQ(*(it + 1), "kvm");
}

TEST(BuildQemuArgvTest, RejectsAnOutOfRangeTranslationCache) {
  VmSpec s = FullSpec();
  s.tcg_tb_mib = 1025;
  EXPECT_THAT(ValidateVmSpec(s).message(), HasSubstr("translation cache"));
  s.tcg_tb_mib = -1;
  EXPECT_FALSE(ValidateVmSpec(s).ok());
}

TEST(BuildQemuArgvTest, EmptyBiosLeavesQemusDefaultFirmware) {
  VmSpec s = FullSpec();
  s.bios.clear();
  std::vector<std::string> argv = BuildQemuArgv(s);
  EXPECT_EQ(std::find(argv.begin(), argv.end(), "-bios"), argv.end());
}

TEST(BuildQemuArgvTest, FirmwareOnlySpecHasNoBootOrDiskOrNet) {
  VmSpec s;
  s.name = "fw";
  s.serial_log = "/tmp/s.log";
  s.qmp_socket = "/tmp/q.sock";
  ASSERT_TRUE(ValidateVmSpec(s).ok());
  std::vector<std::string> argv = BuildQemuArgv(s);
  for (const char* absent :
       {"-bios", "-kernel", "-initrd", "-append", "-blockdev", "-netdev", "-runas"}) {
    EXPECT_EQ(std::find(argv.begin(), argv.end(), absent), argv.end()) << absent;
  }
}

// RAM from a file keeps QEMU's own id for q35 RAM, so states saved with
// plain -m RAM load into it and back; shared or private as asked.
TEST(BuildQemuArgvTest, RamFromAFileKeepsQemusRamId) {
  VmSpec s = FullSpec();
  s.ram_file = "/snap/s1,x/ram";
  s.ram_shared = true;
  std::vector<std::string> argv = BuildQemuArgv(s);
  auto it = std::find(argv.begin(), argv.end(), "-machine");
  ASSERT_NE(it, argv.end());
  EXPECT_THAT(*(it + 1), HasSubstr(",memory-backend=pc.ram"));
  EXPECT_NE(std::find(argv.begin(), argv.end(),
                      "memory-backend-file,id=pc.ram,size=512M,mem-path=/snap/s1,,x/ram,share=on"),
            argv.end());
  s.ram_file = kQemuRamFdPath;
  s.ram_shared = false;
  argv = BuildQemuArgv(s);
  EXPECT_NE(std::find(argv.begin(), argv.end(),
                      "memory-backend-file,id=pc.ram,size=512M,mem-path=/proc/self/fd/4,share=off"),
            argv.end());
  s.shares.push_back({"data", "/run/warren/vfs.sock"});
  EXPECT_THAT(ValidateVmSpec(s).message(), HasSubstr("shares"));
  s.shares.clear();
  s.ram_file.clear();
  argv = BuildQemuArgv(s);
  EXPECT_EQ(std::find_if(argv.begin(), argv.end(),
                         [](const std::string& a) { return a.find("memory-backend") != a.npos; }),
            argv.end());
}

TEST(BuildQemuArgvTest, CommasInPathsAreEscaped) {
  VmSpec s = FullSpec();
  s.disk = "/data/a,b/disk.qcow2";
  s.qmp_socket = "/run/x,y/qmp.sock";
  std::vector<std::string> argv = BuildQemuArgv(s);
  EXPECT_NE(std::find(argv.begin(), argv.end(),
                      "driver=qcow2,node-name=disk0,discard=unmap,file.driver=file,"
                      "file.filename=/data/a,,b/disk.qcow2"),
            argv.end());
  EXPECT_NE(std::find(argv.begin(), argv.end(),
                      "socket,id=qmp0,path=/run/x,,y/qmp.sock,server=on,wait=off"),
            argv.end());
}

TEST(ValidateVmSpecTest, RejectsBadFields) {
  struct Case {
    const char* what;
    void (*mutate)(VmSpec&);
    const char* message;
  };
  const Case cases[] = {
      {"empty name", [](VmSpec& s) { s.name = ""; }, "vm name"},
      {"bad name", [](VmSpec& s) { s.name = "a b"; }, "vm name"},
      {"zero cpus", [](VmSpec& s) { s.cpus = 0; }, "cpus"},
      {"tiny memory", [](VmSpec& s) { s.memory_mib = 16; }, "memory"},
      {"bad mac", [](VmSpec& s) { s.mac = "52:54:00:12:34"; }, "MAC"},
      {"multicast mac", [](VmSpec& s) { s.mac = "01:00:5e:00:00:01"; }, "MAC"},
      {"tap on stdout", [](VmSpec& s) { s.tap_fd = 1; }, "tap_fd"},
      {"no serial", [](VmSpec& s) { s.serial_log.clear(); }, "serial"},
      {"no qmp", [](VmSpec& s) { s.qmp_socket.clear(); }, "QMP"},
      {"long qmp", [](VmSpec& s) { s.qmp_socket = "/" + std::string(120, 'x'); }, "unix socket"},
      {"long agent", [](VmSpec& s) { s.agent_socket = "/" + std::string(120, 'x'); }, "agent socket"},
      {"initrd without kernel", [](VmSpec& s) { s.kernel.clear(); }, "without a kernel"},
  };
  for (const Case& c : cases) {
    VmSpec s = FullSpec();
    c.mutate(s);
    Status st = ValidateVmSpec(s);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << c.what;
    EXPECT_THAT(st.message(), HasSubstr(c.message)) << c.what;
  }
}

TEST(ValidateVmSpecTest, MacIsIgnoredWithoutTap) {
  VmSpec s = FullSpec();
  s.tap_fd = -1;
  s.mac.clear();
  EXPECT_TRUE(ValidateVmSpec(s).ok());
}

TEST(QemuOptEscapeTest, DoublesCommasOnly) {
  EXPECT_EQ(QemuOptEscape("a,b,,c=d"), "a,,b,,,,c=d");
  EXPECT_EQ(QemuOptEscape(""), "");
}

}  // namespace
}  // namespace warren
