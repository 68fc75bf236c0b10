// Runs the real qemu-system-x86_64: q35 under TCG with no kernel, so the
// machine sits in its firmware. Enough for launch, QMP, stop/kill and adoption.
#include "vm/qemu/process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <string>

#include "sys/test_util.h"

namespace warren {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Records exit callbacks; they arrive on the watcher thread.
struct ExitRecorder {
  std::atomic<int> calls{0};
  std::atomic<bool> stop_requested{false};
  QemuExitCallback Callback() {
    return [this](const QemuExit& e) {
      stop_requested = e.stop_requested;
      ++calls;
    };
  }
};

class QemuProcessTest : public ::testing::Test {
 protected:
  QemuLaunch MakeLaunch() {
    QemuLaunch l;
    l.spec.name = "e2e";
    l.spec.accel = Accel::kTcg;
    l.spec.memory_mib = 128;
    l.spec.serial_log = dir_.path() / "serial.log";
    l.spec.qmp_socket = dir_.path() / "qmp.sock";
    l.output_log = dir_.path() / "qemu.log";
    l.qmp_timeout = 20s;  // generous: the machine is shared; not a timing check
    return l;
  }
  TempDir dir_;
};

TEST_F(QemuProcessTest, LaunchReportsRunningAndStopKillsAFirmwareOnlyGuest) {
  ExitRecorder rec;
  auto proc = QemuProcess::Launch(MakeLaunch(), rec.Callback());
  ASSERT_TRUE(proc.ok()) << proc.error().ToString();
  const pid_t pid = (*proc)->pid();
  Result<QmpStatus> st = (*proc)->QueryStatus();
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_TRUE(st->running);
  EXPECT_EQ(st->status, "running");
  EXPECT_FALSE((*proc)->exited());

  // The firmware ignores the power button, so this ends in SIGKILL.
  ASSERT_TRUE((*proc)->Stop(300ms).ok());
  std::optional<QemuExit> exit = (*proc)->exit_info();
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->stop_requested);
  EXPECT_TRUE(exit->status_known);
  EXPECT_EQ(exit->term_signal, SIGKILL);
  EXPECT_TRUE(EventuallyGone(pid));
  proc->reset();
  EXPECT_EQ(rec.calls, 1);
  EXPECT_TRUE(rec.stop_requested);
}

TEST_F(QemuProcessTest, QuitOverQmpIsAnExitOnItsOwn) {
  ExitRecorder rec;
  auto proc = QemuProcess::Launch(MakeLaunch(), rec.Callback());
  ASSERT_TRUE(proc.ok()) << proc.error().ToString();
  ASSERT_TRUE((*proc)->qmp().Quit().ok());
  ASSERT_TRUE((*proc)->WaitForExit(30s));
  std::optional<QemuExit> exit = (*proc)->exit_info();
  EXPECT_TRUE(exit->status_known);
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_FALSE(exit->stop_requested);
  EXPECT_TRUE((*proc)->Stop(100ms).ok());  // Already gone: nothing to do.
  proc->reset();
  EXPECT_EQ(rec.calls, 1);
  EXPECT_FALSE(rec.stop_requested);
}

TEST_F(QemuProcessTest, SandboxedUnderRunAsNobodyStillServesQmp) {
  if (::geteuid() != 0) GTEST_SKIP() << "-runas needs root";
  QemuLaunch l = MakeLaunch();
  l.spec.run_as = "nobody";
  auto proc = QemuProcess::Launch(l, nullptr);
  ASSERT_TRUE(proc.ok()) << proc.error().ToString();
  ASSERT_TRUE((*proc)->QueryStatus().ok());
  std::ifstream status("/proc/" + std::to_string((*proc)->pid()) + "/status");
  std::string line, uid_line, seccomp_line;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) == 0) uid_line = line;
    if (line.rfind("Seccomp:", 0) == 0) seccomp_line = line;
  }
  EXPECT_THAT(uid_line, HasSubstr("65534"));
  EXPECT_THAT(seccomp_line, HasSubstr("2"));
  EXPECT_TRUE((*proc)->Kill().ok());
}

TEST_F(QemuProcessTest, AdoptsARunningQemuAfterItsHandleIsDropped) {
  QemuLaunch l = MakeLaunch();
  auto first = QemuProcess::Launch(l, nullptr);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  const pid_t pid = (*first)->pid();
  first->reset();  // As if the daemon restarted: QEMU keeps running.
  ASSERT_EQ(::kill(pid, 0), 0);

  Result<std::unique_ptr<QemuProcess>> wrong =
      QemuProcess::Adopt(pid, dir_.path() / "other.sock", nullptr, 1s);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), Code::kNotFound);

  ExitRecorder rec;
  auto adopted = QemuProcess::Adopt(pid, l.spec.qmp_socket, rec.Callback(), 10s);
  ASSERT_TRUE(adopted.ok()) << adopted.error().ToString();
  Result<QmpStatus> st = (*adopted)->QueryStatus();
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_TRUE(st->running);
  ASSERT_TRUE((*adopted)->Kill().ok());
  EXPECT_TRUE(EventuallyGone(pid));
  adopted->reset();
  EXPECT_EQ(rec.calls, 1);
  // Still this test's child, so the watcher reaped it; otherwise reap it here.
  ::waitpid(pid, nullptr, WNOHANG);
}

TEST_F(QemuProcessTest, AdoptReportsDeadForAForeignOrMissingProcess) {
  TempDir d;
  Result<std::unique_ptr<QemuProcess>> self =
      QemuProcess::Adopt(::getpid(), d.path() / "qmp.sock", nullptr, 1s);
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.error().code(), Code::kNotFound);

  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  Result<std::unique_ptr<QemuProcess>> gone =
      QemuProcess::Adopt(child, d.path() / "qmp.sock", nullptr, 1s);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), Code::kNotFound);
}

TEST_F(QemuProcessTest, LaunchFailureQuotesQemusOwnError) {
  QemuLaunch l = MakeLaunch();
  l.spec.disk = dir_.path() / "missing.qcow2";
  auto proc = QemuProcess::Launch(l, nullptr);
  ASSERT_FALSE(proc.ok());
  EXPECT_EQ(proc.error().code(), Code::kUnavailable);
  EXPECT_THAT(proc.error().message(), HasSubstr("missing.qcow2"));
}

// A loaded host can take longer than one connect attempt to answer the QMP
// handshake. Launch must wait on the connection it has: a second one would get
// the first one's late reply before its greeting (as QEMU 7.2 does).
TEST_F(QemuProcessTest, ASlowQmpHandshakeIsAwaitedOnOneConnection) {
  QemuLaunch l = MakeLaunch();
  l.spec.qemu_binary = WARREN_SLOW_QMP_QEMU;
  auto proc = QemuProcess::Launch(l, nullptr);
  ASSERT_TRUE(proc.ok()) << proc.error().ToString();
  Result<QmpStatus> st = (*proc)->QueryStatus();
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_TRUE(st->running);
  std::ifstream conns(l.spec.qmp_socket.string() + ".conns");
  std::string all((std::istreambuf_iterator<char>(conns)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all, "conn\n");
  const pid_t pid = (*proc)->pid();
  EXPECT_TRUE((*proc)->Kill().ok());
  EXPECT_TRUE(EventuallyGone(pid));
}

TEST_F(QemuProcessTest, MissingBinaryAndBadTapPairingAreRejectedBeforeSpawning) {
  QemuLaunch l = MakeLaunch();
  l.spec.qemu_binary = "warren-no-such-qemu";
  EXPECT_EQ(QemuProcess::Launch(l, nullptr).error().code(), Code::kNotFound);

  l = MakeLaunch();
  l.spec.tap_fd = kQemuTapFd;
  l.spec.mac = "52:54:00:00:00:01";
  EXPECT_EQ(QemuProcess::Launch(l, nullptr).error().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace warren
