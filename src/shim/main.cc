// containerd-shim-warren-v1: containerd's runtime v2 shim protocol
// (runtime/v2/README.md in containerd's sources). containerd runs
//   BIN -namespace NS -address ADDR -publish-binary CONTAINERD -id ID start
// in the bundle directory and reads the ttrpc address from stdout; later
//   BIN ... -id ID -bundle DIR delete
// to clean up after a shim that died, reading a DeleteResponse from stdout.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <spdlog/spdlog.h>

#include "github.com/containerd/containerd/runtime/v2/task/shim.pb.h"
#include "shim/task_service.h"
#include "shim/ttrpc_server.h"
#include "sys/layout.h"

namespace warren::shim {
namespace {

// Go's flag syntax: -name value, -name=value, --name value; the first bare word
// is the action.
struct Args {
  std::map<std::string, std::string> flags;
  std::string action;
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s.size() > 1 && s[0] == '-') {
      s.erase(0, s[1] == '-' ? 2 : 1);
      if (auto eq = s.find('='); eq != std::string::npos) {
        a.flags[s.substr(0, eq)] = s.substr(eq + 1);
      } else if (s == "debug" || s == "v") {
        a.flags[s] = "true";
      } else if (i + 1 < argc) {
        a.flags[s] = argv[++i];
      }
    } else if (a.action.empty()) {
      a.action = s;
    }
  }
  return a;
}

// A short, stable socket path per (containerd, namespace, task): Kubernetes
// task ids are 64 hex digits, too long for sun_path inside the bundle.
std::filesystem::path SocketPath(const ShimOptions& o) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : o.containerd_address + "\n" + o.ns + "\n" + o.id) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  char name[40];
  std::snprintf(name, sizeof name, "%016llx.sock", static_cast<unsigned long long>(h));
  return std::filesystem::path("/run/containerd-shim-warren") / name;
}

// Listens, forks the server, prints the address. Returns the listening fd in
// the child (which goes on to Serve), or exits in the parent.
int Start(const ShimOptions& o) {
  std::filesystem::path sock = SocketPath(o);
  std::error_code ec;
  std::filesystem::create_directories(sock.parent_path(), ec);
  ::chmod(sock.parent_path().c_str(), 0700);
  std::filesystem::remove(sock, ec);  // a dead shim's leftover (same task id, same containerd)
  Result<int> fd = ttrpc::ListenUnix(sock);
  if (!fd.ok()) {
    std::cerr << "containerd-shim-warren-v1: " << fd.status().ToString() << "\n";
    std::exit(1);
  }
  pid_t pid = ::fork();
  if (pid < 0) std::exit(1);
  if (pid == 0) return *fd;
  std::ofstream("address") << "unix://" << sock.string();
  std::cout << "unix://" << sock.string() << std::flush;
  std::exit(0);
}

int Delete(const ShimOptions& o, const std::filesystem::path& bundle) {
  Status st = CleanupTask(o, o.id, bundle);
  std::error_code ec;
  std::filesystem::remove(SocketPath(o), ec);  // the dead server's socket
  if (!st.ok()) std::cerr << "containerd-shim-warren-v1 delete: " << st.ToString() << "\n";
  containerd::task::v2::DeleteResponse resp;
  resp.set_exit_status(128 + SIGKILL);
  auto now = std::chrono::system_clock::now().time_since_epoch();
  resp.mutable_exited_at()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  std::cout << resp.SerializeAsString() << std::flush;
  return st.ok() ? 0 : 1;
}

// The long-lived server: detached from containerd's session, stdio away from
// the pipe containerd reads the address from.
int Serve(const ShimOptions& o, int listen_fd) {
  ::setsid();
  int null = ::open("/dev/null", O_RDWR);
  ::dup2(null, 0);
  ::dup2(null, 1);
  int log = ::open("shim.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  ::dup2(log >= 0 ? log : null, 2);
  ::signal(SIGPIPE, SIG_IGN);
  std::filesystem::path sock = SocketPath(o);
  ttrpc::Server* server = nullptr;
  TaskService service(o, [&server] { server->Shutdown(); });
  auto s = ttrpc::Server::FromFd(listen_fd, service.Table());
  if (!s.ok()) {
    spdlog::error("shim: {}", s.status().ToString());
    return 1;
  }
  server = s->get();
  spdlog::info("shim: serving {} for task {} in namespace {}", sock.string(), o.id, o.ns);
  server->Serve();
  std::error_code ec;
  std::filesystem::remove(sock, ec);
  // Serve returns while the Shutdown handler's thread may still be finishing
  // Server::Shutdown: end the process here instead of destroying the server
  // under it (every task's VM is gone by now; Delete removed it).
  std::fflush(nullptr);
  ::_exit(0);
}

}  // namespace
}  // namespace warren::shim

int main(int argc, char** argv) {
  using namespace warren::shim;
  Args a = ParseArgs(argc, argv);
  ShimOptions o;
  o.ns = a.flags.count("namespace") ? a.flags["namespace"] : "default";
  o.id = a.flags["id"];
  o.containerd_address = a.flags["address"];
  o.publish_binary = a.flags["publish-binary"];
  o.daemon_socket = warren::Layout::Resolve("").socket;
  std::filesystem::path bundle =
      a.flags.count("bundle") ? std::filesystem::path(a.flags["bundle"]) : std::filesystem::current_path();
  if (a.action == "start") {
    return Serve(o, Start(o));
  }
  if (a.action == "delete") return Delete(o, bundle);
  std::cerr << "usage: containerd-shim-warren-v1 -namespace NS -address ADDR "
               "-publish-binary BIN -id ID [-bundle DIR] start|delete\n";
  return 2;
}
