// warren proxy | ssh-config | ssh: guests reached with the user's own OpenSSH
// (ssh, scp, rsync -e ssh, anything that reads ssh_config). The daemon relays
// the bytes (vm.proxy), so this works in isolated mode too; the user's own key
// is authorized in the guest on first use, and the guests' pinned host keys are
// written to a known_hosts file so StrictHostKeyChecking=yes holds from the
// first connection.
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <sstream>

#include "cli/context.h"
#include "cli/session_io.h"
#include "sys/files.h"

namespace warren::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr std::string_view kFallbackDomain = "warren.internal";

struct Identity {
  fs::path private_key;
  std::string public_line;
};

fs::path Home() {
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') return h;
  const passwd* pw = ::getpwuid(::getuid());
  return pw != nullptr ? fs::path(pw->pw_dir) : fs::path("/");
}

// --identity FILE (the private key or its .pub), else the first of OpenSSH's
// default keys that has a public half. NotFound says how to make one.
Result<Identity> FindIdentity(const std::string& given) {
  std::vector<fs::path> candidates;
  if (!given.empty()) {
    candidates.push_back(given);
  } else {
    for (const char* name : {"id_ed25519", "id_ecdsa", "id_rsa"}) {
      candidates.push_back(Home() / ".ssh" / name);
    }
  }
  for (fs::path p : candidates) {
    if (p.extension() == ".pub") p.replace_extension();
    fs::path pub = p;
    pub += ".pub";
    Result<std::string> line = ReadFileToString(pub);
    if (!line.ok()) {
      if (!given.empty()) return line.error();
      continue;
    }
    while (!line->empty() && (line->back() == '\n' || line->back() == '\r')) line->pop_back();
    return Identity{p, *line};
  }
  return NotFound("no SSH key in ~/.ssh (id_ed25519, id_ecdsa, id_rsa); make one with "
                  "`ssh-keygen -t ed25519` or pass --identity FILE");
}

// Per daemon socket, so two daemons' VMs of the same name never collide.
fs::path StateFile(const CliContext& ctx, const std::string& name) {
  fs::path dir;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x != nullptr && *x == '/') {
    dir = fs::path(x) / "warren";
  } else {
    dir = Home() / ".local" / "state" / "warren";
  }
  const std::string socket = ctx.SocketPath().string();
  if (socket == Layout::Resolve("").socket.string()) return dir / name;
  std::ostringstream hash;
  hash << std::hex << (std::hash<std::string>{}(socket) & 0xffffffffu);
  return dir / (name + "-" + hash.str());
}

// Written whole through a unique temporary and a rename: ssh may read it
// while another `warren proxy` rewrites it.
Status WriteUserFile(const fs::path& path, const std::string& text) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return Internal("cannot create " + path.parent_path().string() + ": " + ec.message());
  std::string tmpl = path.string() + ".XXXXXX";
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return ErrnoError("create " + tmpl, errno);
  bool ok = WriteFully(fd, text);
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmpl.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    return ErrnoError("write " + path.string(), err);
  }
  return Status::Ok();
}

// Rewrites the known_hosts file from the daemon's pinned keys; the domain.
Result<std::string> RefreshKnownHosts(CliContext& ctx, fs::path* path) {
  ASSIGN_OR_RETURN(json r, ctx.Call("vm.known_hosts"));
  std::string domain = r.value("domain", "");
  if (domain.empty()) domain = kFallbackDomain;
  std::string text;
  for (const json& h : r["hosts"]) {
    text += h.value("vm", "") + "." + domain + " " + h.value("host_key", "") + "\n";
  }
  *path = StateFile(ctx, "known_hosts");
  RETURN_IF_ERROR(WriteUserFile(*path, text));
  return domain;
}

std::string Quoted(const std::string& s) {
  return s.find_first_of(" \t\"") == std::string::npos ? s : "\"" + s + "\"";
}

struct SshArgs {
  std::string vm;
  int port = 22;
  std::string identity;
  bool no_authorize = false;
  std::vector<std::string> command;
};

// The `Host *.DOMAIN` block; refreshes the known_hosts file it names.
Result<std::string> SshConfigText(CliContext& ctx, const SshArgs& a) {
  ASSIGN_OR_RETURN(Identity id, FindIdentity(a.identity));
  fs::path known;
  ASSIGN_OR_RETURN(std::string domain, RefreshKnownHosts(ctx, &known));
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  std::string proxy = Quoted(ec ? "warren" : self.string());
  if (!ctx.opts.socket.empty() || !ctx.opts.root.empty()) {
    proxy += " --socket " + Quoted(ctx.SocketPath().string());
  }
  proxy += " proxy";
  if (!a.identity.empty()) proxy += " --identity " + Quoted(id.private_key.string());
  return "Host *." + domain + "\n" +
         "  ProxyCommand " + proxy + " %h 22\n" +
         "  User root\n" +
         "  IdentityFile " + Quoted(id.private_key.string()) + "\n" +
         "  IdentitiesOnly yes\n" +
         "  UserKnownHostsFile " + Quoted(known.string()) + "\n" +
         "  StrictHostKeyChecking yes\n";
}

void Proxy(CliContext& ctx, const SshArgs& a) {
  // ssh hands over %h, the full name; VM names are single DNS labels.
  const std::string vm = a.vm.substr(0, a.vm.find('.'));
  json params = {{"vm", vm}, {"port", a.port}};
  if (a.port == 22 && !a.no_authorize) {
    Result<Identity> id = FindIdentity(a.identity);
    if (!id.ok() && !a.identity.empty()) return ctx.Fail(id.error());
    if (id.ok()) params["authorize_key"] = id->public_line;
    fs::path known;
    if (Result<std::string> d = RefreshKnownHosts(ctx, &known); !d.ok()) return ctx.Fail(d.error());
  }
  StreamCallOptions o;
  o.forward_sigint = false;
  Result<StreamCallResult> r = RunStreamCall(ctx, "vm.proxy", params, o);
  if (!r.ok()) return ctx.Fail(r.error());
}

void Ssh(CliContext& ctx, const SshArgs& a) {
  Result<std::string> config = SshConfigText(ctx, a);
  if (!config.ok()) return ctx.Fail(config.error());
  const fs::path path = StateFile(ctx, "ssh_config");
  if (Status st = WriteUserFile(path, *config); !st.ok()) return ctx.Fail(st);
  std::string domain = config->substr(std::string("Host *.").size());
  domain = domain.substr(0, domain.find('\n'));
  std::vector<std::string> args = {"ssh", "-F", path.string(), a.vm + "." + domain};
  if (!a.command.empty()) args.push_back("--");
  args.insert(args.end(), a.command.begin(), a.command.end());
  std::vector<char*> argv;
  for (std::string& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  ::execvp("ssh", argv.data());  // ssh owns the terminal and signals from here on
  ctx.Fail(ErrnoError("run ssh (install openssh-client)", errno));
}

}  // namespace

void AddSshCommands(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<SshArgs>();
  auto* proxy = app.add_subcommand(
      "proxy", "Relay stdin/stdout to a guest TCP port (ssh's ProxyCommand; works in isolated mode)");
  proxy->add_option("vm", args->vm, "VM name (NAME or NAME.DOMAIN)")->required();
  proxy->add_option("port", args->port, "guest TCP port")->required()->check(CLI::Range(1, 65535));
  proxy->add_option("--identity", args->identity,
                    "port 22: this key (private or .pub) is authorized for root first")
      ->type_name("FILE");
  proxy->add_flag("--no-authorize", args->no_authorize, "port 22: authorize no key");
  proxy->callback([&ctx, args] { Proxy(ctx, *args); });

  auto* config = app.add_subcommand(
      "ssh-config", "Print an ssh_config block that reaches every VM as NAME.DOMAIN");
  config->add_option("--identity", args->identity, "the key to use (default: ~/.ssh/id_ed25519, ...)")
      ->type_name("FILE");
  config->callback([&ctx, args] {
    Result<std::string> text = SshConfigText(ctx, *args);
    if (!text.ok()) return ctx.Fail(text.error());
    std::cout << *text;
  });

  auto* ssh = app.add_subcommand("ssh", "Run the system ssh to a VM (as root, with your own key)");
  ssh->add_option("vm", args->vm, "VM name")->required();
  ssh->add_option("--identity", args->identity, "the key to use (default: ~/.ssh/id_ed25519, ...)")
      ->type_name("FILE");
  ssh->add_option("command", args->command, "command to run instead of a shell (after --)");
  ssh->callback([&ctx, args] { Ssh(ctx, *args); });
}

}  // namespace warren::cli
