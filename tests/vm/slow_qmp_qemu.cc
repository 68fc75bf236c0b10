// A stand-in for qemu-system-x86_64 whose QMP handshake is slow, for
// QemuProcessTest. It serves the QMP socket named by `-chardev socket,...,
// path=P,...` and answers `qmp_capabilities` only after kSlowReply, longer
// than one of QemuProcess::Launch's connect attempts. Like QEMU 7.2, if the
// client gives up and connects again, the new connection gets the late reply
// before its greeting. Each accepted connection appends a line to P.conns.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <string>
#include <thread>

namespace {

constexpr auto kSlowReply = std::chrono::milliseconds(700);
constexpr char kGreeting[] =
    R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}})";

std::string SocketPath(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "-chardev") != 0) continue;
    std::string opts = argv[i + 1];
    size_t at = opts.find("path=");
    if (opts.rfind("socket,id=qmp0", 0) != 0 || at == std::string::npos) continue;
    std::string rest = opts.substr(at + 5);
    return rest.substr(0, rest.find(','));
  }
  return "";
}

bool WriteLine(int fd, const std::string& line) {
  std::string out = line + "\r\n";
  return ::send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size());
}

// One line without its newline; false on EOF or error.
bool ReadLine(int fd, std::string* line) {
  line->clear();
  char c;
  while (::read(fd, &c, 1) == 1) {
    if (c == '\n') return true;
    line->push_back(c);
  }
  return false;
}

std::string IdOf(const std::string& request) {
  std::smatch m;
  static const std::regex kId(R"re("id"\s*:\s*([0-9]+))re");
  return std::regex_search(request, m, kId) ? m[1].str() : "null";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = SocketPath(argc, argv);
  if (path.empty()) {
    std::fprintf(stderr, "slow_qmp_qemu: no -chardev socket,id=qmp0,path=...\n");
    return 1;
  }
  int srv = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ::unlink(path.c_str());
  if (::bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(srv, 4) != 0) {
    std::perror("slow_qmp_qemu: bind/listen");
    return 1;
  }
  std::string late_reply;  // the reply whose client left before it was sent
  bool negotiated = false;
  while (true) {
    int conn = ::accept(srv, nullptr, nullptr);
    if (conn < 0) return 1;
    std::ofstream(path + ".conns", std::ios::app) << "conn\n";
    if (!late_reply.empty()) WriteLine(conn, late_reply);
    late_reply.clear();
    WriteLine(conn, kGreeting);
    std::string request;
    while (ReadLine(conn, &request)) {
      const std::string id = IdOf(request);
      std::string reply = R"({"return": {}, "id": )" + id + "}";
      if (request.find("qmp_capabilities") != std::string::npos && !negotiated) {
        negotiated = true;
        std::this_thread::sleep_for(kSlowReply);
        char probe;
        if (::recv(conn, &probe, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {  // the client left
          late_reply = reply;
          break;
        }
      } else if (request.find("query-status") != std::string::npos) {
        reply = R"({"return": {"status": "running", "singlestep": false, "running": true}, "id": )" +
                id + "}";
      }
      if (!WriteLine(conn, reply)) break;
    }
    ::close(conn);
  }
}
