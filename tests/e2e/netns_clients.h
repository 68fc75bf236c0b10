// Host-side clients for e2e tests, run inside a daemon's own network namespace
// (nsenter -t PID -n), where published ports listen: curl, a UDP datagram,
// OpenSSH's ssh. Nothing here touches the machine's own network. Every call is
// bounded (RunSpec timeouts, client timeouts).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "base/status.h"

namespace warren::e2e {

// Runs argv in `daemon`'s namespace (60 s at most); its stdout, "" when it
// failed or exited non-zero.
std::string RunIn(pid_t daemon, std::vector<std::string> argv);

// GET http://127.0.0.1:port/path there; the body, "" on failure.
std::string CurlIn(pid_t daemon, int port, const std::string& path = "/");

// One datagram with `text` to 127.0.0.1:port there, and the reply's text (""
// when none came). `tries` sends, 2 s apart: a guest's echo may still be
// starting; a relay that drops datagrams gets no reply at all.
std::string UdpEchoIn(pid_t daemon, int port, const std::string& text, int tries = 5);

// A user's OpenSSH client files: a fresh ed25519 key made by ssh-keygen, and a
// known_hosts that pins a VM's host key once PinHostKey wrote it.
struct SshClientFiles {
  std::filesystem::path key, known_hosts;
  std::string public_key;  // one line, no newline
};
Result<SshClientFiles> MakeSshKey(const std::filesystem::path& dir, const std::string& comment);
// known_hosts gets "[127.0.0.1]:port <host_key.pub's line>".
Status PinHostKey(const SshClientFiles& f, const std::filesystem::path& host_key_pub, int port);

// `ssh -p port root@127.0.0.1 command` there with that key only and strict
// host key checking against the pinned key only; the command's stdout.
std::string SshIn(pid_t daemon, int port, const SshClientFiles& f, const std::string& command);

}  // namespace warren::e2e
