#pragma once

// The host side of a share: one virtiofsd per shared folder, serving it to
// the VM's QEMU over a vhost-user socket (docs/CAPABILITIES.md).
//
// virtiofsd (QEMU 7.2's C one, /usr/lib/qemu/virtiofsd) runs as root: it
// needs to create files as the guest's uids. It has no read-only switch, so a
// read-only share runs it in a mount namespace of its own where the folder is
// bind-mounted read-only (util-linux unshare + mount, then exec): every write
// the guest sends fails with EROFS on the host, whatever the guest mounts.
//
// It exits by itself once QEMU closes the connection; Stop also kills it (a
// QEMU that never connected leaves it waiting) and removes its socket. The
// pid is kept in a file so a restarted daemon still finds it; a pid is only
// signalled while /proc/PID/cmdline names that socket (never a reused pid).

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "base/status.h"

namespace warren {

inline constexpr std::string_view kVirtiofsdBinary = "/usr/lib/qemu/virtiofsd";

// One share's virtiofsd. Paths are absolute.
struct VirtiofsdSpec {
  std::string tag;                   // the guest's mount tag, named in messages
  std::filesystem::path source;      // the host folder
  bool ro = false;                   // served read-only (mount namespace, above)
  std::filesystem::path socket;      // the vhost-user socket QEMU connects to
  std::filesystem::path pid_file;    // written by Start, read by Stop
  std::filesystem::path log;         // virtiofsd's stdout/stderr, appended
  std::string socket_group;          // group given access to the socket; "" = root's only
};

// The full argv (argv[0] is the program spawned). Pure, for golden tests:
//   rw: VIRTIOFSD --socket-path=S [--socket-group=G] -o source=D -o cache=auto
//   ro: /usr/bin/unshare --mount --propagation private -- /bin/sh -c
//       'mount --bind -o ro -- "$1" "$1" && shift && exec "$@"' warren-share-ro D
//       VIRTIOFSD ... (the folder and virtiofsd's argv are the script's
//       positional parameters: never parsed by the shell).
std::vector<std::string> VirtiofsdArgv(const std::filesystem::path& binary,
                                       const VirtiofsdSpec& spec);

// Starts and stops the virtiofsds of a VM's shares. The share capability's
// seam to the OS (tests pass a recorder). Thread-safe: it keeps no state
// besides the files named in the spec, and the VM's lock serializes the calls
// for one VM.
class ShareServers {
 public:
  virtual ~ShareServers() = default;
  // Stops a leftover first, then starts it and waits until the socket exists.
  // FailedPrecondition naming the share and quoting its log when virtiofsd
  // exits or does not listen in time.
  virtual Status Start(const VirtiofsdSpec& spec) = 0;
  // Ends the process (if any, SIGTERM then SIGKILL), reaps it when it is this
  // daemon's child, removes the socket and the pid file. Idempotent.
  virtual void Stop(const VirtiofsdSpec& spec) = 0;
};

class VirtiofsdServers final : public ShareServers {
 public:
  explicit VirtiofsdServers(std::filesystem::path binary = std::string(kVirtiofsdBinary),
                            std::chrono::milliseconds listen_timeout = std::chrono::seconds(10))
      : binary_(std::move(binary)), listen_timeout_(listen_timeout) {}
  Status Start(const VirtiofsdSpec& spec) override;
  void Stop(const VirtiofsdSpec& spec) override;

 private:
  const std::filesystem::path binary_;
  const std::chrono::milliseconds listen_timeout_;
};

}  // namespace warren
