#include "vm/qemu/argv.h"

#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

namespace warren {
namespace {

constexpr size_t kMaxNameLen = 63;
constexpr int kMaxCpus = 64;
constexpr int kMinMemoryMib = 64;
constexpr int kMaxMemoryMib = 1 << 20;
constexpr int kMaxTcgTbMib = 1024;

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLen) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// "xx:xx:xx:xx:xx:xx", hex digits, unicast (low bit of the first octet clear).
bool ValidMac(std::string_view mac) {
  if (mac.size() != 17) return false;
  for (size_t i = 0; i < mac.size(); ++i) {
    const bool colon_slot = i % 3 == 2;
    if (colon_slot != (mac[i] == ':')) return false;
    if (!colon_slot && !std::isxdigit(static_cast<unsigned char>(mac[i]))) return false;
  }
  const int first = std::stoi(std::string(mac.substr(0, 2)), nullptr, 16);
  return (first & 1) == 0;
}

std::string Esc(const std::filesystem::path& p) { return QemuOptEscape(p.string()); }

// The id of guest RAM's memory backend when the VM has shares.
constexpr std::string_view kSharedRam = "ram0";
// QEMU's own id for q35's RAM: a saved state names its RAM blocks by id.
constexpr std::string_view kDefaultRam = "pc.ram";

void AddMachine(const VmSpec& spec, std::vector<std::string>& a) {
  std::string machine = "q35,i8042=off,sata=off,smbus=off,usb=off,vmport=off";
  if (!spec.shares.empty()) {
    // vhost-user: virtiofsd reads and writes the guest's buffers in place, so
    // guest RAM must be memory QEMU can hand it (a memfd shared on fork/mmap).
    a.insert(a.end(), {"-object", "memory-backend-memfd,id=" + std::string(kSharedRam) +
                                      ",size=" + std::to_string(spec.memory_mib) + "M,share=on"});
    machine += ",memory-backend=" + std::string(kSharedRam);
  } else if (!spec.ram_file.empty()) {
    a.insert(a.end(), {"-object", "memory-backend-file,id=" + std::string(kDefaultRam) +
                                      ",size=" + std::to_string(spec.memory_mib) +
                                      "M,mem-path=" + Esc(spec.ram_file) +
                                      ",share=" + (spec.ram_shared ? "on" : "off")});
    machine += ",memory-backend=" + std::string(kDefaultRam);
  }
  a.insert(a.end(), {"-machine", machine});
  if (spec.accel == Accel::kKvm) {
    a.insert(a.end(), {"-accel", "kvm", "-cpu", "host"});
  } else {
    // x86-on-x86 supports multi-threaded TCG; one vCPU gains nothing from it.
    std::string tcg = spec.cpus > 1 ? "tcg,thread=multi" : "tcg";
    if (spec.tcg_tb_mib > 0) tcg += ",tb-size=" + std::to_string(spec.tcg_tb_mib);
    a.insert(a.end(), {"-accel", tcg, "-cpu", "max"});
  }
  a.insert(a.end(),
           {"-smp", std::to_string(spec.cpus), "-m", std::to_string(spec.memory_mib) + "M"});
}

void AddBoot(const VmSpec& spec, std::vector<std::string>& a) {
  if (spec.kernel.empty()) return;
  if (!spec.bios.empty()) a.insert(a.end(), {"-bios", spec.bios.string()});
  a.insert(a.end(), {"-kernel", spec.kernel.string()});
  if (!spec.initrd.empty()) a.insert(a.end(), {"-initrd", spec.initrd.string()});
  if (!spec.cmdline.empty()) a.insert(a.end(), {"-append", spec.cmdline});
}

void AddDisks(const VmSpec& spec, std::vector<std::string>& a) {
  if (!spec.disk.empty()) {
    a.insert(a.end(),
             {"-blockdev",
              "driver=qcow2,node-name=disk0,discard=unmap,file.driver=file,file.filename=" +
                  Esc(spec.disk),
              "-device", "virtio-blk-pci,drive=disk0,id=vda"});
  }
  if (!spec.seed.empty()) {
    a.insert(a.end(), {"-blockdev",
                       "driver=raw,node-name=seed0,read-only=on,file.driver=file,file.read-only=on,"
                       "file.filename=" +
                           Esc(spec.seed),
                       "-device", "virtio-blk-pci,drive=seed0,id=vdb"});
  }
}

void AddNet(const VmSpec& spec, std::vector<std::string>& a) {
  if (spec.tap_fd < 0) return;
  a.insert(a.end(), {"-netdev", "tap,id=net0,fd=" + std::to_string(spec.tap_fd), "-device",
                     "virtio-net-pci,netdev=net0,romfile=,mac=" + spec.mac});
}

// virtiofs: QEMU only relays the virtqueues to the share's virtiofsd over its
// vhost-user socket (QEMU connects as the client, at start-up, so virtiofsd
// must be listening already). -sandbox spawn=deny is kept: warren, not QEMU,
// starts virtiofsd.
void AddShares(const VmSpec& spec, std::vector<std::string>& a) {
  int n = 0;
  for (const VmSpec::Share& share : spec.shares) {
    std::string id = "vfs" + std::to_string(n++);
    a.insert(a.end(), {"-chardev", "socket,id=" + id + ",path=" + Esc(share.socket), "-device",
                       "vhost-user-fs-pci,chardev=" + id + ",tag=" + share.tag});
  }
}

void AddChardevs(const VmSpec& spec, std::vector<std::string>& a) {
  a.insert(a.end(), {"-chardev", "file,id=serial0,path=" + Esc(spec.serial_log), "-serial",
                     "chardev:serial0"});
  a.insert(a.end(),
           {"-chardev", "socket,id=qmp0,path=" + Esc(spec.qmp_socket) + ",server=on,wait=off",
            "-mon", "chardev=qmp0,mode=control"});
}

// One virtio-serial controller with one console port (argv.h: why a console).
// wait=off: QEMU starts without a client; the daemon connects only while it
// talks to the agent.
void AddAgent(const VmSpec& spec, std::vector<std::string>& a) {
  if (spec.agent_socket.empty()) return;
  a.insert(a.end(), {"-device", "virtio-serial-pci,id=vser0", "-chardev",
                     "socket,id=agent0,path=" + Esc(spec.agent_socket) + ",server=on,wait=off",
                     "-device",
                     "virtconsole,bus=vser0.0,chardev=agent0,name=" +
                         std::string(kGuestAgentPort)});
}

}  // namespace

std::string_view AccelName(Accel accel) { return accel == Accel::kKvm ? "kvm" : "tcg"; }

std::string QemuOptEscape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

Status ValidateVmSpec(const VmSpec& spec) {
  if (!ValidName(spec.name)) {
    return InvalidArgument("vm name \"" + spec.name +
                           "\" must be 1-63 characters of letters, digits, '.', '_' or '-'");
  }
  if (spec.cpus < 1 || spec.cpus > kMaxCpus) {
    return InvalidArgument("vm " + spec.name + ": cpus must be 1.." + std::to_string(kMaxCpus) +
                           ", got " + std::to_string(spec.cpus));
  }
  if (spec.memory_mib < kMinMemoryMib || spec.memory_mib > kMaxMemoryMib) {
    return InvalidArgument("vm " + spec.name + ": memory must be " + std::to_string(kMinMemoryMib) +
                           ".." + std::to_string(kMaxMemoryMib) + " MiB, got " +
                           std::to_string(spec.memory_mib));
  }
  if (spec.tcg_tb_mib < 0 || spec.tcg_tb_mib > kMaxTcgTbMib) {
    return InvalidArgument("vm " + spec.name + ": TCG translation cache must be 0 (QEMU's default)" +
                           " or 1.." + std::to_string(kMaxTcgTbMib) + " MiB, got " +
                           std::to_string(spec.tcg_tb_mib));
  }
  if (spec.qemu_binary.empty()) return InvalidArgument("vm " + spec.name + ": no QEMU binary");
  if (spec.kernel.empty() && (!spec.initrd.empty() || !spec.cmdline.empty())) {
    return InvalidArgument("vm " + spec.name + ": initrd/cmdline given without a kernel");
  }
  if (spec.tap_fd >= 0 && !ValidMac(spec.mac)) {
    return InvalidArgument("vm " + spec.name + ": MAC \"" + spec.mac +
                           "\" must be a unicast xx:xx:xx:xx:xx:xx address");
  }
  if (spec.tap_fd >= 0 && spec.tap_fd < 3) {
    return InvalidArgument("vm " + spec.name + ": tap_fd must not be stdin/stdout/stderr");
  }
  for (const VmSpec::Share& share : spec.shares) {
    bool tag_ok = !share.tag.empty() && share.tag.size() <= 31 &&
                  std::all_of(share.tag.begin(), share.tag.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                  });
    if (!tag_ok) {
      return InvalidArgument("vm " + spec.name + ": share tag \"" + share.tag +
                             "\" must be 1-31 of A-Za-z0-9_");
    }
    if (!share.socket.is_absolute() ||
        share.socket.string().size() >= sizeof(sockaddr_un{}.sun_path)) {
      return InvalidArgument("vm " + spec.name + ": share " + share.tag + ": socket " +
                             share.socket.string() +
                             " must be an absolute path shorter than 108 bytes");
    }
  }
  if (!spec.ram_file.empty() && !spec.shares.empty()) {
    return InvalidArgument("vm " + spec.name +
                           ": RAM from a file and shares do not go together (shares need "
                           "RAM virtiofsd can map)");
  }
  if (spec.serial_log.empty()) return InvalidArgument("vm " + spec.name + ": no serial log path");
  if (!spec.agent_socket.empty() &&
      spec.agent_socket.string().size() >= sizeof(sockaddr_un{}.sun_path)) {
    return InvalidArgument("vm " + spec.name + ": agent socket path " +
                           spec.agent_socket.string() +
                           " is longer than a unix socket allows (107 bytes); use a shorter "
                           "run directory");
  }
  if (spec.qmp_socket.empty()) return InvalidArgument("vm " + spec.name + ": no QMP socket path");
  if (spec.qmp_socket.string().size() >= sizeof(sockaddr_un{}.sun_path)) {
    return InvalidArgument("vm " + spec.name + ": QMP socket path " + spec.qmp_socket.string() +
                           " is longer than a unix socket allows (107 bytes); use a shorter "
                           "state directory");
  }
  return Status::Ok();
}

std::vector<std::string> BuildQemuArgv(const VmSpec& spec) {
  std::vector<std::string> a = {spec.qemu_binary.string()};
  a.insert(a.end(), {"-name", "guest=" + QemuOptEscape(spec.name), "-msg", "timestamp=on"});
  AddMachine(spec, a);
  // -no-reboot: a guest reboot (busybox init treats SIGTERM as one) ends QEMU,
  // so the daemon sees the exit instead of a VM silently rebooting.
  a.insert(a.end(), {"-nodefaults", "-no-user-config", "-nographic", "-no-reboot"});
  AddBoot(spec, a);
  AddDisks(spec, a);
  AddNet(spec, a);
  AddShares(spec, a);
  AddChardevs(spec, a);
  AddAgent(spec, a);
  a.insert(a.end(), {"-object", "rng-random,id=rng0,filename=/dev/urandom", "-device",
                     "virtio-rng-pci,rng=rng0"});
  if (!spec.pid_file.empty()) a.insert(a.end(), {"-pidfile", spec.pid_file.string()});
  if (spec.incoming) a.insert(a.end(), {"-S", "-incoming", "defer"});
  a.insert(a.end(), {"-sandbox", std::string("on,obsolete=deny,elevateprivileges=") +
                                     (spec.run_as.empty() ? "deny" : "allow") +
                                     ",spawn=deny,resourcecontrol=deny"});
  if (!spec.run_as.empty()) a.insert(a.end(), {"-runas", spec.run_as});
  return a;
}

}  // namespace warren
