#include "vm/hypervisor.h"

#include "vm/qemu/migration.h"

namespace warren {
namespace {

class QemuVmProcess final : public VmProcess {
public:
  explicit QemuVmProcess(std::unique_ptr<QemuProcess> qemu)
      : qemu_(std::move(qemu)) {}
  pid_t pid() const override { return qemu_->pid(); }
  Status Stop(std::chrono::milliseconds graceful_timeout) override {
    return qemu_->Stop(graceful_timeout);
  }
  Status Kill() override { return qemu_->Kill(); }
  Status SaveState(int fd, GuestRam ram, std::chrono::milliseconds timeout) override {
    return SaveStateToFd(qemu_->qmp(), fd, ram, timeout);
  }
  Status LoadState(int fd, GuestRam ram, std::chrono::milliseconds timeout) override {
    return LoadStateFromFd(qemu_->qmp(), fd, ram, timeout);
  }
  Status Resume() override { return ResumeGuest(qemu_->qmp()); }

private:
  std::unique_ptr<QemuProcess> qemu_;
};

} // namespace

Result<std::unique_ptr<VmProcess>>
QemuHypervisor::Launch(const VmSpec &spec, int tap_fd, int ram_fd,
                       const std::filesystem::path &output_log,
                       QemuExitCallback on_exit) {
  QemuLaunch launch;
  launch.spec = spec;
  launch.tap_fd = tap_fd;
  launch.ram_fd = ram_fd;
  launch.output_log = output_log;
  launch.qmp_timeout = qmp_timeout_;
  ASSIGN_OR_RETURN(std::unique_ptr<QemuProcess> qemu,
                   QemuProcess::Launch(launch, std::move(on_exit)));
  return std::unique_ptr<VmProcess>(new QemuVmProcess(std::move(qemu)));
}

Result<std::unique_ptr<VmProcess>>
QemuHypervisor::Adopt(pid_t pid, const std::filesystem::path &qmp_socket,
                      QemuExitCallback on_exit) {
  ASSIGN_OR_RETURN(
      std::unique_ptr<QemuProcess> qemu,
      QemuProcess::Adopt(pid, qmp_socket, std::move(on_exit), qmp_timeout_));
  return std::unique_ptr<VmProcess>(new QemuVmProcess(std::move(qemu)));
}

} // namespace warren
