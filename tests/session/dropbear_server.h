#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "session/guest_ssh.h"

namespace warren {

inline std::string ReadFileForTest(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool RunForTest(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }

// Keys for one test: a host key in dropbear's format (and its OpenSSH public
// line), a second unrelated host key, and a client key authorized for root.
// Must be made inside RunInFreshNetns: it mounts a tmpfs over /root (private to
// the test's mount namespace) to hold root's authorized_keys.
struct SshTestKeys {
  std::string dir;
  std::string host_key_path;
  std::string host_public;
  std::string other_host_public;
  std::string client_private;

  // Returns false (after ADD_FAILURE) when a step fails.
  bool Make(const std::string& scratch) {
    dir = scratch;
    host_key_path = dir + "/host_ed25519";
    std::string client = dir + "/client_ed25519";
    bool ok =
        RunForTest("dropbearkey -t ed25519 -f " + host_key_path + " >/dev/null 2>&1") &&
        RunForTest("dropbearkey -y -f " + host_key_path + " | grep '^ssh-' > " + dir +
                   "/host.pub") &&
        RunForTest("dropbearkey -t ed25519 -f " + dir + "/other >/dev/null 2>&1") &&
        RunForTest("dropbearkey -y -f " + dir + "/other | grep '^ssh-' > " + dir + "/other.pub") &&
        RunForTest("ssh-keygen -q -t ed25519 -N '' -C warren-test -f " + client);
    if (!ok) {
      ADD_FAILURE() << "key generation failed (dropbearkey from dropbear-bin, "
                       "ssh-keygen)";
      return false;
    }
    if (::mount("tmpfs", "/root", "tmpfs", 0, "mode=0700,size=1m") != 0) {
      ADD_FAILURE() << "mounting a tmpfs over /root";
      return false;
    }
    ok = RunForTest("mkdir -m 700 /root/.ssh && cp " + client + ".pub /root/.ssh/authorized_keys");
    host_public = ReadFileForTest(dir + "/host.pub");
    other_host_public = ReadFileForTest(dir + "/other.pub");
    client_private = ReadFileForTest(client);
    if (!ok || host_public.empty() || client_private.empty()) {
      ADD_FAILURE() << "writing authorized_keys or reading keys";
      return false;
    }
    return true;
  }

  std::string FingerprintOf(const std::string& public_line) const {
    std::string path = dir + "/fp.pub";
    std::ofstream(path) << public_line;
    std::string out_path = dir + "/fp.txt";
    RunForTest("ssh-keygen -l -E sha256 -f " + path + " | cut -d' ' -f2 > " + out_path);
    std::string fp = ReadFileForTest(out_path);
    while (!fp.empty() && fp.back() == '\n') fp.pop_back();
    return fp;
  }

  GuestEndpoint Endpoint(int port) const {
    GuestEndpoint ep;
    ep.ip = "127.0.0.1";
    ep.port = port;
    ep.host_public_key = host_public;
    ep.client_private_key = client_private;
    return ep;
  }
};

// A dropbear server on 127.0.0.1:port in its own process group; Stop (or the
// destructor) kills the group by the leader's PID, connection children too.
class DropbearServer {
 public:
  DropbearServer() = default;
  DropbearServer(const DropbearServer&) = delete;
  DropbearServer& operator=(const DropbearServer&) = delete;
  ~DropbearServer() { Stop(); }

  // With `netns_path`, dropbear runs inside that network namespace (nsenter
  // execs it, so the PID is dropbear's).
  void Start(const SshTestKeys& keys, int port, const std::string& netns_path = "") {
    std::string listen = "127.0.0.1:" + std::to_string(port);
    std::string pidfile = keys.dir + "/dropbear.pid";
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      std::string net = "--net=" + netns_path;
      if (!netns_path.empty()) {
        ::execl("/usr/bin/nsenter", "nsenter", net.c_str(), "/usr/sbin/dropbear", "-F", "-E", "-s",
                "-m", "-p", listen.c_str(), "-r", keys.host_key_path.c_str(), "-P", pidfile.c_str(),
                static_cast<char*>(nullptr));
        std::perror("exec /usr/bin/nsenter");
        ::_exit(127);
      }
      ::execl("/usr/sbin/dropbear", "dropbear", "-F", "-E", "-s", "-m", "-p", listen.c_str(), "-r",
              keys.host_key_path.c_str(), "-P", pidfile.c_str(), static_cast<char*>(nullptr));
      std::perror("exec /usr/sbin/dropbear (install dropbear-bin)");
      ::_exit(127);
    }
    ASSERT_GT(pid, 0);
    ::setpgid(pid,
              pid);  // also from here, so Stop never races the child's own call
    pid_ = pid;
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    ::kill(-pid_, SIGKILL);  // connection children that outlived the listener
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace warren
