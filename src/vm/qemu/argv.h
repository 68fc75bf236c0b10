#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace warren {

// Which accelerator QEMU uses. The daemon decides (ChooseAccelerator in
// sys/host_probe.h: KVM only where it can run stock guests, else TCG).
enum class Accel { kKvm, kTcg };

std::string_view AccelName(Accel accel);

// The file descriptor number at which QEMU finds the VM's TAP device. The
// launcher (process.h) places the daemon's TAP fd there in the child.
inline constexpr int kQemuTapFd = 3;
// Where QEMU finds guest RAM passed as a descriptor (VmSpec::ram_file names
// it as kQemuRamFdPath): a snapshot's RAM, sealed read-only, that a clone maps
// copy-on-write (docs/SNAPSHOTS.md, "Guest RAM apart").
inline constexpr int kQemuRamFd = 4;
inline constexpr std::string_view kQemuRamFdPath = "/proc/self/fd/4";

// QEMU's minimal firmware (Debian: qemu-system-data, a dependency of
// qemu-system-x86). It only loads -kernel/-initrd, which is all warren boots.
inline constexpr std::string_view kQbootRom = "/usr/share/qemu/qboot.rom";

// TCG's translation cache (`-accel tcg,tb-size=`), MiB. QEMU 7.2 reserves
// 1 GiB for system emulation and an idle default-image guest had filled 68 MiB
// of it, every page private to its QEMU. 32 MiB halves that at no measurable
// boot cost: the cache is flushed once when full and hot code is translated
// again (docs/BENCHMARKS.md, "Density").
inline constexpr int kDefaultTcgTbMib = 32;

// The virtio-serial port name the guest agent serves (docs/SNAPSHOTS.md).
// The port is a console port (`virtconsole`), which the guest sees as its
// only virtio console, /dev/hvc0; the name (under /sys/class/virtio-ports/)
// tells the agent it is warren's.
inline constexpr std::string_view kGuestAgentPort = "org.warren.agent.0";

// Everything that decides one QEMU command line. Plain data, no I/O: the VM
// layer fills it in, BuildQemuArgv turns it into argv, QemuProcess runs it.
struct VmSpec {
  std::string name;  // VM name, shown by `-name`; [A-Za-z0-9._-], 1..63 chars
  Accel accel = Accel::kTcg;
  int cpus = 1;                                              // 1..64
  int memory_mib = 512;                                      // 64..1048576
  int tcg_tb_mib = kDefaultTcgTbMib;  // 0 = QEMU's default (1 GiB); else 1..1024; TCG only
  std::filesystem::path qemu_binary = "qemu-system-x86_64";  // resolved via PATH if relative
  std::filesystem::path kernel;      // empty: boot the firmware only (tests)
  // `-bios` when a kernel is given; empty = QEMU's default (SeaBIOS). qboot
  // reaches the kernel ~1-2 s sooner than SeaBIOS under TCG (docs/IMAGES.md).
  std::filesystem::path bios{kQbootRom};
  std::filesystem::path initrd;      // optional; requires kernel
  std::string cmdline;               // kernel command line; requires kernel
  std::filesystem::path disk;        // qcow2 overlay, writable; empty = no disk
  std::filesystem::path seed;        // cloud-init seed image, attached read-only; empty = none
  int tap_fd = -1;                   // fd number QEMU sees (kQemuTapFd), -1 = no network
  std::string mac;                   // "52:54:00:xx:xx:xx"; required with tap_fd
  std::filesystem::path serial_log;  // guest serial console is written here (required)
  std::filesystem::path qmp_socket;  // QMP unix socket QEMU listens on (required, < 108 bytes)
  std::filesystem::path pid_file;    // optional `-pidfile`; warren itself knows the pid from fork
  // The guest agent's port (vm/guest_agent.h): a unix socket QEMU listens on
  // (< 108 bytes), relayed to the guest's virtio-serial port kGuestAgentPort.
  // Empty = no agent device (tests). Like the QMP socket, QEMU creates it
  // before -runas drops privileges, so only root (the daemon) can connect.
  std::filesystem::path agent_socket;
  // User QEMU switches to (`-runas`) once it has opened its files, TAP and
  // /dev/kvm; empty = stay as the daemon's user. See BuildQemuArgv for how it
  // interacts with `-sandbox`.
  std::string run_as;
  // Not on the command line: the launcher writes it to /proc/PID/oom_score_adj
  // right after spawning (QEMU would inherit the daemon's low value). Raising
  // it needs no privilege, so a sandboxed, unprivileged QEMU is no obstacle.
  int oom_score_adj = 0;
  // Start paused, waiting for a saved state (`-S -incoming defer`): the VM
  // layer then loads it over QMP (vm/qemu/migration.h) instead of booting.
  // Every other field must describe the same machine the state was saved from.
  bool incoming = false;
  // Guest RAM backed by a file instead of QEMU's anonymous memory. The
  // backend keeps QEMU's default RAM id ("pc.ram"), so a state saved from a
  // VM with plain RAM loads into one with file RAM and back. Shared: QEMU's
  // writes reach the file (a snapshot's RAM being written out). Private: a
  // copy-on-write view of it (a clone: pages it never writes stay the file's,
  // shared with every other clone). Not with shares (their RAM is a memfd).
  std::filesystem::path ram_file;  // empty = anonymous RAM
  bool ram_shared = false;

  // Capability fields (vm/capability.h), rendered by BuildQemuArgv like the
  // rest. Host folders shown to the guest over virtiofs: each one is served by
  // its own virtiofsd (started by the share capability before QEMU) on a
  // vhost-user socket, and mounted by the guest by tag (SeedSpec::mounts).
  // Read-only is virtiofsd's business (QEMU only relays), so it is not here.
  struct Share {
    std::string tag;               // [A-Za-z0-9_], 1..31: the guest's mount tag
    std::filesystem::path socket;  // virtiofsd's vhost-user socket (< 108 bytes)
  };
  std::vector<Share> shares;
};

// Checks a spec before anything runs: required fields, ranges, name and MAC
// syntax, the unix-socket path limit, kernel-only options without a kernel.
// InvalidArgument naming the field otherwise. Pure.
Status ValidateVmSpec(const VmSpec& spec);

// The full QEMU argv (argv[0] = spec.qemu_binary) for a spec that passed
// ValidateVmSpec. Pure and deterministic, so golden tests pin it down.
//
// Shape (one VM = one q35 machine, the same devices under KVM and TCG so the
// guest image does not care). The choices that make a TCG guest boot faster
// were each measured (docs/IMAGES.md, "Booting fast under TCG"):
//   -machine q35,i8042=off,sata=off,smbus=off,usb=off,vmport=off: no legacy
//                                          devices for the guest kernel to probe
//   -accel kvm -cpu host                   KVM (stock guests need host CPUID)
//   -accel tcg[,thread=multi][,tb-size=N] -cpu max   TCG; multi-threaded when
//                                          cpus > 1; tb-size bounds the private
//                                          translation cache; the default qemu64
//                                          model boots slower
//   -nodefaults -no-user-config -nographic, no VGA, no default NIC/serial/monitor
//   -bios spec.bios (qboot) when booting a kernel
//   disk:  -blockdev qcow2 over file + virtio-blk-pci (discard passes through)
//   seed:  -blockdev raw, read-only on both nodes + virtio-blk-pci
//   net:   -netdev tap,fd=N (no vhost: TCG cannot use it) + virtio-net-pci with
//          the MAC and romfile= (no iPXE option ROM: warren never boots from
//          the network)
//   serial: -chardev file + -serial chardev:   QMP: -chardev socket,server=on,wait=off + -mon
//   rng:   rng-random on /dev/urandom + virtio-rng-pci
//   agent: virtio-serial-pci + -chardev socket,server=on,wait=off +
//          virtconsole name=kGuestAgentPort: a channel into the guest that
//          does not depend on its IP (re-identifying a resumed clone). A
//          console port, not a virtserialport: QEMU keeps a console port open
//          towards the guest whether or not a client is connected, so the
//          agent's read blocks until a request comes. A serial port reads
//          end-of-file while no client is connected, and the guest cannot
//          sleep until one connects: the agent had to poll.
//   shares: -chardev socket (virtiofsd's) + vhost-user-fs-pci,tag=; only then
//          guest RAM is a shared memfd (memory-backend-memfd,share=on and
//          -machine memory-backend=): virtiofsd maps it to reach the guest's
//          buffers. VMs without shares keep QEMU's private anonymous RAM.
//   ram_file: -object memory-backend-file,id=pc.ram,mem-path=,share= and
//          -machine memory-backend=pc.ram (the id QEMU gives plain -m RAM)
//   incoming: -S -incoming defer (the state arrives over QMP, migration.h)
//   -sandbox on,obsolete=deny,elevateprivileges=...,spawn=deny,resourcecontrol=deny
// `elevateprivileges` is `deny` without run_as. With run_as it must be
// `allow`: QEMU 7.2 installs the seccomp filter before `-runas` calls
// setgid/setuid, so `deny` kills it with SIGSYS (measured). Once it has
// dropped to an unprivileged user it cannot regain root anyway.
// No `-daemonize`: the daemon supervises the process itself.
// Paths and names go through QemuOptEscape, so commas in them are safe.
std::vector<std::string> BuildQemuArgv(const VmSpec& spec);

// Escapes a value for QEMU's "key=value,..." option syntax (',' → ',,').
std::string QemuOptEscape(std::string_view value);

}  // namespace warren
