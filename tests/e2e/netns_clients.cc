#include "e2e/netns_clients.h"

#include <chrono>
#include <fstream>

#include "sys/files.h"
#include "sys/runner.h"

namespace warren::e2e {

namespace fs = std::filesystem;

std::string RunIn(pid_t daemon, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"nsenter", "-t", std::to_string(daemon), "-n"});
  RunSpec spec;
  spec.argv = std::move(argv);
  spec.timeout = std::chrono::seconds(60);
  RealRunner runner;
  Result<RunResult> r = runner.Run(spec);
  return r.ok() && r->exit_code == 0 ? r->out : "";
}

std::string CurlIn(pid_t daemon, int port, const std::string& path) {
  return RunIn(daemon, {"curl", "-s", "--max-time", "10",
                        "http://127.0.0.1:" + std::to_string(port) + path});
}

std::string UdpEchoIn(pid_t daemon, int port, const std::string& text, int tries) {
  // The text and port go as arguments, never into the program's source.
  const std::string client =
      "import socket, sys\n"
      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
      "s.settimeout(2)\n"
      "for _ in range(int(sys.argv[3])):\n"
      "    s.sendto(sys.argv[1].encode(), ('127.0.0.1', int(sys.argv[2])))\n"
      "    try:\n"
      "        print(s.recv(2048).decode(), end='')\n"
      "        break\n"
      "    except socket.timeout:\n"
      "        pass\n";
  return RunIn(daemon, {"/usr/bin/python3", "-c", client, text, std::to_string(port),
                        std::to_string(tries)});
}

Result<SshClientFiles> MakeSshKey(const fs::path& dir, const std::string& comment) {
  SshClientFiles f{dir / "id_ed25519", dir / "known_hosts", ""};
  RunSpec keygen;
  keygen.argv = {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                 f.key.string()};
  keygen.timeout = std::chrono::seconds(30);
  RealRunner runner;
  RETURN_IF_ERROR(RunAndCheck(runner, keygen).status());
  ASSIGN_OR_RETURN(f.public_key, ReadFileToString(fs::path(f.key.string() + ".pub")));
  while (!f.public_key.empty() && f.public_key.back() == '\n') f.public_key.pop_back();
  return f;
}

Status PinHostKey(const SshClientFiles& f, const fs::path& host_key_pub, int port) {
  ASSIGN_OR_RETURN(std::string host_key, ReadFileToString(host_key_pub));
  std::ofstream out(f.known_hosts, std::ios::trunc);
  out << "[127.0.0.1]:" << port << " " << host_key;
  if (host_key.empty() || host_key.back() != '\n') out << "\n";
  out.close();
  if (!out) return Internal("cannot write " + f.known_hosts.string());
  return Status::Ok();
}

std::string SshIn(pid_t daemon, int port, const SshClientFiles& f, const std::string& command) {
  return RunIn(daemon, {"ssh", "-F", "/dev/null", "-i", f.key.string(), "-p",
                        std::to_string(port), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                        "-o", "StrictHostKeyChecking=yes", "-o",
                        "UserKnownHostsFile=" + f.known_hosts.string(), "-o",
                        "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=20",
                        "root@127.0.0.1", command});
}

}  // namespace warren::e2e
