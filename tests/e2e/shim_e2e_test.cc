// containerd-shim-warren-v1 under Debian's containerd: a private containerd
// (own root, state, config and sockets; CRI off) whose runtime
// io.containerd.warren.v1 resolves to the shim built here, a real warren daemon
// (isolated mode: every bridge, TAP and guest lives in its namespace), and an
// OCI image built by the test. One test, so the image and daemons are set up
// once (each `ctr run` boots one TCG guest, except a pod's containers: five in all).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "e2e/daemon_harness.h"

namespace warren::e2e {
namespace {

namespace fs = std::filesystem;

struct Out {
  int rc = -1;
  std::string text;  // stdout and stderr
};

// Runs a shell command under timeout(1): every wait has a deadline.
Out Sh(const std::string& cmd, int timeout_s = 300) {
  Out o;
  std::string full = "timeout -s KILL " + std::to_string(timeout_s) + " " + cmd + " 2>&1";
  FILE* f = ::popen(full.c_str(), "r");
  if (f == nullptr) return o;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) o.text.append(buf, n);
  int st = ::pclose(f);
  o.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

class Containerd {
 public:
  Containerd(const fs::path& dir, const fs::path& warren_root) : dir_(dir) {
    std::ofstream(dir / "config.toml")
        << "version = 2\nroot = \"" << (dir / "root").string() << "\"\nstate = \""
        << (dir / "state").string() << "\"\n"
        << "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
        << "[grpc]\n  address = \"" << socket() << "\"\n"
        << "[ttrpc]\n  address = \"" << socket() << ".ttrpc\"\n"
        << "[debug]\n  address = \"" << (dir / "debug.sock").string() << "\"\n";
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string log = (dir / "containerd.log").string();
      if (!std::freopen(log.c_str(), "a", stderr) || !std::freopen(log.c_str(), "a", stdout)) _exit(126);
      std::string path = std::string("PATH=") + SHIM_DIR + ":" + std::getenv("PATH");
      std::string root = "WARREN_ROOT=" + warren_root.string();
      ::putenv(path.data());
      ::putenv(root.data());
      ::execlp("containerd", "containerd", "--config", (dir / "config.toml").c_str(), nullptr);
      _exit(127);
    }
  }
  ~Containerd() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      for (int i = 0; i < 300 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    // A root-owned overlay mount per task lives under root/; none must be left.
    (void)Sh("umount -R " + (dir_ / "root").string() + " 2>/dev/null; true", 30);
  }
  std::string socket() const { return (dir_ / "containerd.sock").string(); }
  bool WaitReady() {
    for (int i = 0; i < 300; ++i) {
      if (Sh("ctr -a " + socket() + " version", 10).rc == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  std::string Log() {
    std::ifstream in(dir_ / "containerd.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
};

constexpr char kImage[] = "docker.io/library/warren-shim-test:1";

// Kill returns before the exit is seen: polls `ctr task ls` for the task's row.
bool WaitStopped(const std::string& ctr, const std::string& id) {
  for (int i = 0; i < 100; ++i) {
    std::string ls = Sh(ctr + "task ls").text;
    size_t at = ls.find("\n" + id + " ");
    if (at != std::string::npos && ls.find("STOPPED", at) < ls.find('\n', at + 1)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

TEST(ShimE2eTest, CtrRunExecKillAndKilledShim) {
  WarrenDaemon daemon;
  ASSERT_TRUE(daemon.Start().ok());
  ASSERT_TRUE(daemon.BuildDefaultImage().ok()) << daemon.Log();
  fs::path cdir = daemon.root() / "containerd";
  fs::create_directories(cdir);
  Containerd containerd(cdir, daemon.root());
  ASSERT_TRUE(containerd.WaitReady()) << containerd.Log();
  const std::string ctr = "ctr -a " + containerd.socket() + " ";
  const std::string run = ctr + "run --runtime io.containerd.warren.v1 ";
  fs::path tar = cdir / "image.tar";
  Out made = Sh(std::string(SHIM_TEST_DIR) + "/make_oci_image.sh " + tar.string() + " " + kImage);
  ASSERT_EQ(made.rc, 0) << made.text;
  Out imported = Sh(ctr + "images import " + tar.string());
  ASSERT_EQ(imported.rc, 0) << imported.text;

  Out hi = Sh(run + "--rm " + kImage + " t1 /bin/echo hi");
  EXPECT_EQ(hi.rc, 0) << hi.text << containerd.Log();
  EXPECT_EQ(hi.text, "hi\n");

  Out three = Sh(run + "--rm " + kImage + " t2 /bin/sh -c 'echo out; exit 3'");
  EXPECT_EQ(three.rc, 3) << three.text;
  EXPECT_EQ(three.text, "out\n");

  // A detached task: exec into it, kill it, remove it.
  ASSERT_EQ(Sh(run + "-d " + kImage + " t3 /bin/sleep 600").rc, 0);
  Out exec = Sh(ctr + "task exec --exec-id e1 t3 /bin/sh -c 'echo from-exec; exit 4'");
  EXPECT_EQ(exec.rc, 4) << exec.text;
  EXPECT_EQ(exec.text, "from-exec\n");
  // A tty resizes: ctr on a PTY the helper owns forwards each new window size
  // (SIGWINCH -> ResizePty) to the guest's pty, where `stty size` reads it. An
  // exec in t3 rides the VM already booted; `ctr run -t` takes the same path
  // in the shim (GuestProcess::Resize) for a task's own process.
  Out tty = Sh(std::string(SHIM_TEST_DIR) + "/tty_resize.py 240 33x101,47x132 " + ctr +
                   "task exec -t --exec-id e2 t3 /bin/sh",
               270);
  EXPECT_EQ(tty.rc, 0) << tty.text;
  EXPECT_NE(tty.text.find("stty size: 33 101\n"), std::string::npos) << tty.text;
  EXPECT_NE(tty.text.find("stty size: 47 132\n"), std::string::npos) << tty.text;
  EXPECT_EQ(Sh(ctr + "task kill -s SIGKILL t3").rc, 0);
  Out stopped;
  for (int i = 0; i < 100; ++i) {  // Kill returns before the exit is seen
    stopped = Sh(ctr + "task ls");
    if (stopped.text.find("STOPPED") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_NE(stopped.text.find("STOPPED"), std::string::npos) << stopped.text;
  EXPECT_EQ(Sh(ctr + "task rm t3").rc, 0);
  EXPECT_EQ(Sh(ctr + "containers rm t3").rc, 0);

  // A SIGKILLed shim: containerd runs `delete`, which removes the VM.
  ASSERT_EQ(Sh(run + "-d " + kImage + " t4 /bin/sleep 600").rc, 0);
  Out ls = Sh(ctr + "task ls");
  pid_t shim = 0;
  for (size_t at = ls.text.find("\nt4 "); at != std::string::npos;) {
    shim = std::atoi(ls.text.c_str() + ls.text.find_first_of("0123456789", at + 4));
    break;
  }
  ASSERT_GT(shim, 0) << ls.text;
  ASSERT_EQ(::kill(shim, SIGKILL), 0);
  Out vms;
  for (int i = 0; i < 150; ++i) {  // containerd notices the disconnect, then runs delete
    vms = Sh(std::string(WARREN_BINARY) + " --root " + daemon.root().string() + " vm ls");
    if (vms.text.find("ctr-default-t4") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(vms.text.find("ctr-default-t4"), std::string::npos) << vms.text;
  (void)Sh(ctr + "task rm -f t4");
  EXPECT_EQ(Sh(ctr + "containers rm t4").rc, 0);

  // A pod (the CRI plugin's annotations, given by hand): the sandbox task boots
  // the VM; its containers run in that VM, each on its own rootfs (writes land
  // in the container's own snapshot); the VM goes with the sandbox.
  const std::string pod = "--annotation io.kubernetes.cri.sandbox-id=p1 "
                          "--annotation io.kubernetes.cri.container-type=";
  // The pod's containers' memory sum (384 MiB), as kubelet passes it: the VM
  // gets that plus kMinMemoryMib (256) for the guest itself.
  ASSERT_EQ(Sh(run + "-d --annotation io.kubernetes.cri.sandbox-memory=402653184 " + pod +
               "sandbox " + kImage + " p1 /bin/sleep 600")
                .rc,
            0);
  ASSERT_EQ(Sh(run + "-d " + pod + "container " + kImage + " c1 /bin/sleep 600").rc, 0);
  Out mark = Sh(ctr + "task exec --exec-id e1 c1 /bin/sh -c 'echo c1 > /tmp/mark; cat /tmp/mark'");
  EXPECT_EQ(mark.rc, 0) << mark.text << containerd.Log();
  EXPECT_EQ(mark.text, "c1\n");
  const fs::path tasks = cdir / "state/io.containerd.runtime.v2.task/default";
  EXPECT_TRUE(fs::exists(tasks / "c1/rootfs/tmp/mark"));
  EXPECT_FALSE(fs::exists(tasks / "p1/rootfs/tmp/mark"));
  Out c2 = Sh(run + "--rm " + pod + "container " + kImage + " c2 /bin/sh -c 'echo c2; exit 5'");
  EXPECT_EQ(c2.rc, 5) << c2.text;
  EXPECT_EQ(c2.text, "c2\n");
  Result<nlohmann::json> pod_vms = daemon.Call("vm.list");
  ASSERT_TRUE(pod_vms.ok());
  ASSERT_EQ((*pod_vms)["vms"].size(), 1u);
  EXPECT_EQ((*pod_vms)["vms"][0].value("memory_mib", 0), 640);
  EXPECT_EQ(pod_vms->dump().find("ctr-default-c"), std::string::npos) << pod_vms->dump();
  EXPECT_NE(pod_vms->dump().find("ctr-default-p1"), std::string::npos) << pod_vms->dump();
  for (const char* id : {"c1", "p1"}) {  // containers first, as the kubelet stops a pod
    EXPECT_EQ(Sh(ctr + "task kill -s SIGKILL " + id).rc, 0);
    EXPECT_TRUE(WaitStopped(ctr, id));
    EXPECT_EQ(Sh(ctr + "task rm " + id).rc, 0);
    EXPECT_EQ(Sh(ctr + "containers rm " + id).rc, 0);
    Out left = Sh(std::string(WARREN_BINARY) + " --root " + daemon.root().string() + " vm ls");
    EXPECT_EQ(left.text.find("ctr-default-p1") != std::string::npos, std::string(id) == "c1")
        << id << ": " << left.text;
  }
  EXPECT_FALSE(fs::exists("/run/containerd-shim-warren/pods/ctr-default-p1"));

  // Nothing left: no VM, no task, no container.
  Out all = daemon.Call("vm.list").ok() ? Out{0, daemon.Call("vm.list")->dump()} : Out{};
  EXPECT_EQ(all.text, "{\"vms\":[]}");
  EXPECT_EQ(Sh(ctr + "containers ls -q").text, "");
}

}  // namespace
}  // namespace warren::e2e
