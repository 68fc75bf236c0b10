#include "config/config.h"

#include "base/toml.h"

#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <system_error>
#include <vector>

#include "config/config_checks.h"

namespace warren {
namespace {

namespace checks = config_checks;

// One configurable key. `parse` stores the node into the Config and returns ""
// or the tail of an error message; `print` renders the current value as TOML.
struct Field {
  std::string_view table;
  std::string_view key;
  std::string_view help;
  std::function<std::string(const toml::node&, Config&)> parse;
  std::function<std::string(const Config&)> print;
};

constexpr std::string_view kWrongType = "has the wrong type; expected ";

// A TOML basic string; the defaults and messages use double quotes throughout.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Join(const std::vector<std::string_view>& items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

template <typename Sub>
Field Int(std::string_view table, std::string_view key, std::string_view help, Sub Config::*sub,
          int64_t Sub::*member, int64_t lo, int64_t hi) {
  return {table, key, help,
          [=](const toml::node& n, Config& c) -> std::string {
            if (!n.is_integer()) return std::string(kWrongType) + "an integer";
            int64_t v = n.as_integer()->get();
            if (v < lo || v > hi) {
              return "is out of range; use " + std::to_string(lo) + ".." + std::to_string(hi);
            }
            (c.*sub).*member = v;
            return "";
          },
          [=](const Config& c) { return std::to_string((c.*sub).*member); }};
}

template <typename Sub>
Field Bool(std::string_view table, std::string_view key, std::string_view help, Sub Config::*sub,
           bool Sub::*member) {
  return {table, key, help,
          [=](const toml::node& n, Config& c) -> std::string {
            if (!n.is_boolean()) return std::string(kWrongType) + "true or false";
            (c.*sub).*member = n.as_boolean()->get();
            return "";
          },
          [=](const Config& c) -> std::string { return (c.*sub).*member ? "true" : "false"; }};
}

template <typename Sub>
Field Str(std::string_view table, std::string_view key, std::string_view help, Sub Config::*sub,
          std::string Sub::*member, std::function<std::string(std::string_view)> check) {
  return {table, key, help,
          [=](const toml::node& n, Config& c) -> std::string {
            if (!n.is_string()) return std::string(kWrongType) + "a string";
            const std::string& v = n.as_string()->get();
            std::string problem = check(v);
            if (!problem.empty()) return problem;
            (c.*sub).*member = v;
            return "";
          },
          [=](const Config& c) { return Quote((c.*sub).*member); }};
}

template <typename Sub>
Field Enum(std::string_view table, std::string_view key, std::string_view help, Sub Config::*sub,
           std::string Sub::*member, std::vector<std::string_view> allowed) {
  return Str(table, key, help, sub, member, [allowed](std::string_view v) -> std::string {
    for (std::string_view a : allowed) {
      if (v == a) return "";
    }
    return "is not allowed; use one of " + Join(allowed);
  });
}

template <typename Sub>
Field Float(std::string_view table, std::string_view key, std::string_view help, Sub Config::*sub,
            double Sub::*member, double lo, double hi) {
  return {table, key, help,
          [=](const toml::node& n, Config& c) -> std::string {
            if (!n.is_number()) return std::string(kWrongType) + "a number";
            double v = n.is_integer() ? static_cast<double>(n.as_integer()->get())
                                      : n.as_floating_point()->get();
            if (!(v >= lo && v <= hi)) {
              std::ostringstream range;
              range << "is out of range; use " << lo << ".." << hi;
              return range.str();
            }
            (c.*sub).*member = v;
            return "";
          },
          [=](const Config& c) {
            std::ostringstream out;
            out << (c.*sub).*member;
            std::string s = out.str();
            return s.find_first_of(".e") == std::string::npos ? s + ".0" : s;
          }};
}

// Tables in file order; fields in table order. Adding a key = one row here plus
// the member in config.h.
const std::vector<std::string_view>& Tables() {
  static const std::vector<std::string_view> kTables = {"daemon",  "rpc", "vm",
                                                        "network", "dns", "images",
                                                        "web"};
  return kTables;
}

const std::vector<Field>& Fields() {
  using C = Config;
  static const std::vector<Field> kFields = {
      Enum("daemon", "log_level", "Log verbosity.", &C::daemon, &DaemonConfig::log_level,
           {"trace", "debug", "info", "warn", "error"}),

      Int("rpc", "max_frame_bytes", "Largest request or response frame (4 KiB..64 MiB).", &C::rpc,
          &RpcConfig::max_frame_bytes, 4 << 10, 64 << 20),
      Int("rpc", "max_connections", "Concurrent client connections.", &C::rpc,
          &RpcConfig::max_connections, 1, 4096),
      Int("rpc", "max_requests_per_connection", "Pending requests per connection.", &C::rpc,
          &RpcConfig::max_requests_per_connection, 1, 1024),
      Int("rpc", "idle_timeout_s", "Seconds before an idle connection is closed.", &C::rpc,
          &RpcConfig::idle_timeout_s, 1, 86400),
      Str("rpc", "socket_group", "Group allowed to use the socket (\"\" = root's group).", &C::rpc,
          &RpcConfig::socket_group, checks::GroupName),

      Enum("vm", "accelerator", "auto uses KVM when /dev/kvm is usable, else TCG.", &C::vm,
           &VmConfig::accelerator, {"auto", "kvm", "tcg"}),
      Str("vm", "default_image", "Image used when `vm create` names none.", &C::vm,
          &VmConfig::default_image, checks::SimpleName),
      Int("vm", "default_cpus", "vCPUs per VM unless given.", &C::vm, &VmConfig::default_cpus, 1,
          64),
      Int("vm", "default_memory_mib", "Memory per VM unless given.", &C::vm,
          &VmConfig::default_memory_mib, 128, 65536),
      Int("vm", "default_disk_gib", "Disk size per VM unless given.", &C::vm,
          &VmConfig::default_disk_gib, 1, 2048),
      Str("vm", "qemu_binary", "QEMU system emulator (name on PATH or absolute path).", &C::vm,
          &VmConfig::qemu_binary, checks::NonEmpty),
      Int("vm", "tcg_tb_mib", "TCG translation cache per VM, MiB (0 = QEMU's default, 1 GiB).",
          &C::vm, &VmConfig::tcg_tb_mib, 0, 1024),
      Bool("vm", "ksm",
           "Turn on the kernel's same-page merging (KSM, host-wide) at daemon start, so idle "
           "guests share identical pages (6 idle VMs: 154 -> 89 MiB each).",
           &C::vm, &VmConfig::ksm),
      Str("vm", "qemu_user", "User QEMU drops to once started (daemon run as root); \"\" = stay.",
          &C::vm, &VmConfig::qemu_user, checks::UserName),
      Str("vm", "memory_budget",
          "Memory all VMs may hold together; \"auto\" = (MemTotal - memory_reserve) * "
          "memory_overcommit. A create or start beyond it is refused.",
          &C::vm, &VmConfig::memory_budget, checks::ByteSizeOrAuto),
      Str("vm", "memory_reserve", "Host memory kept out of the \"auto\" budget (the daemon, the OS).",
          &C::vm, &VmConfig::memory_reserve, checks::ByteSize),
      Float("vm", "memory_overcommit",
            "Multiplier of the \"auto\" budget: 3 counts on guests leaving most of their "
            "memory untouched (an idle default VM uses 123-145 MiB of the 640 MiB it is "
            "charged); 1 where guests use all of theirs.",
            &C::vm, &VmConfig::memory_overcommit, 0.1, 10.0),
      Str("vm", "memory_overhead", "What each VM costs beyond its --memory (QEMU itself).",
          &C::vm, &VmConfig::memory_overhead, checks::ByteSize),

      Enum("network", "mode", "isolated: VMs reach only each other; nat: also the outside.",
           &C::network, &NetworkConfig::mode, {"isolated", "nat", "host"}),
      Str("network", "subnet", "VM subnet, IPv4 CIDR with prefix 16..29.", &C::network,
          &NetworkConfig::subnet, checks::Ipv4Cidr),
      Str("network", "bridge", "Bridge name inside the daemon's namespace.", &C::network,
          &NetworkConfig::bridge, checks::IfName),
      Str("network", "namespace", "Network namespace the daemon creates for VMs; empty: warren, or warren-HASH under --root.", &C::network,
          &NetworkConfig::netns, checks::NetnsName),
      Int("network", "tap_pool_size", "TAP devices kept ready for fast creates.", &C::network,
          &NetworkConfig::tap_pool_size, 0, 64),

      Str("dns", "domain", "VMs resolve as <name>.<domain>.", &C::dns, &DnsConfig::domain,
          checks::DnsName),
      Str("dns", "host_listen", "Where the host can query VM names (IPv4:port; port 0 = any free port).", &C::dns,
          &DnsConfig::host_listen, checks::HostPort),
      Str("dns", "upstreams", "Resolvers for other names in host/nat modes (\"IPv4[:port] ...\"; \"\" = /etc/resolv.conf).", &C::dns,
          &DnsConfig::upstreams, checks::Upstreams),
      Bool("dns", "enabled", "Serve DNS for VMs.", &C::dns, &DnsConfig::enabled),
      Int("dns", "rate_limit_qps", "Per-source UDP queries/s answered in full (beyond: TC); 0 = no limit.",
          &C::dns, &DnsConfig::rate_limit_qps, 0, 100'000'000),

      Str("images", "mirror", "Debian mirror URL (\"\" = the host's apt sources).", &C::images,
          &ImagesConfig::mirror, checks::MirrorUrl),
      Str("images", "suite", "Debian suite images are built from.", &C::images,
          &ImagesConfig::suite, checks::SimpleName),
      Int("images", "build_timeout_s", "Seconds before an image build is abandoned.", &C::images,
          &ImagesConfig::build_timeout_s, 60, 86400),
      Str("images", "cache_dir", "Build step cache (\"\" = under the daemon's root).", &C::images,
          &ImagesConfig::cache_dir, [](std::string_view v) -> std::string {
            return v.empty() || v.front() == '/' ? "" : "must be an absolute path or \"\"";
          }),

      Bool("web", "enabled", "Serve the web UI (`warren web` prints its URL).", &C::web,
           &WebConfig::enabled),
      Str("web", "listen", "Where the web UI listens (IPv4:port; port 0 = any free port).",
          &C::web, &WebConfig::listen, checks::HostPort),
      Bool("web", "allow_remote", "Allow a non-loopback web.listen (plain HTTP: use a tunnel).",
           &C::web, &WebConfig::allow_remote),
  };
  return kFields;
}

std::string Render(const toml::node& n) {
  if (n.is_string()) return Quote(n.as_string()->get());
  std::ostringstream out;
  n.visit([&out](const auto& v) { out << v; });
  return out.str();
}

std::vector<std::string_view> KeysOf(std::string_view table) {
  std::vector<std::string_view> keys;
  for (const Field& f : Fields()) {
    if (f.table == table) keys.push_back(f.key);
  }
  return keys;
}

// Appends one problem per bad key in [table] to `errors`.
void ParseTable(std::string_view origin, std::string_view table, const toml::table& t,
                Config& config, std::vector<std::string>& errors) {
  for (const auto& [k, node] : t) {
    std::string path = std::string(table) + "." + std::string(k.str());
    const Field* field = nullptr;
    for (const Field& f : Fields()) {
      if (f.table == table && f.key == k.str()) field = &f;
    }
    if (field == nullptr) {
      errors.push_back(std::string(origin) + ": unknown key " + path + "; known keys in [" +
                       std::string(table) + "]: " + Join(KeysOf(table)));
      continue;
    }
    std::string problem = field->parse(node, config);
    if (!problem.empty()) {
      errors.push_back(std::string(origin) + ": " + path + " = " + Render(node) + " " + problem);
    }
  }
}

}  // namespace

Result<Config> ParseConfig(std::string_view toml_text, std::string_view origin) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return InvalidArgument(std::string(origin) + ":" + std::to_string(where.line) + ":" +
                           std::to_string(where.column) + ": " + std::string(e.description()));
  }
  Config config;
  std::vector<std::string> errors;
  for (const auto& [k, node] : root) {
    bool known = false;
    for (std::string_view t : Tables()) known = known || t == k.str();
    if (!known) {
      errors.push_back(std::string(origin) + ": unknown " + (node.is_table() ? "table [" : "key ") +
                       std::string(k.str()) + (node.is_table() ? "]" : "") +
                       "; known tables: " + Join(Tables()));
    } else if (!node.is_table()) {
      errors.push_back(std::string(origin) + ": " + std::string(k.str()) + " = " + Render(node) +
                       " " + std::string(kWrongType) + "a table [" + std::string(k.str()) + "]");
    } else {
      ParseTable(origin, k.str(), *node.as_table(), config, errors);
    }
  }
  // Cross-key: the web UI is a shell into every VM; off the loopback only on request.
  if (errors.empty() && config.web.enabled && !config.web.allow_remote &&
      !config.web.listen.starts_with("127.")) {
    errors.push_back(std::string(origin) + ": web.listen = \"" + config.web.listen +
                     "\" is not a loopback address; use 127.0.0.1:PORT, or also set "
                     "web.allow_remote = true (traffic is plain HTTP)");
  }
  if (errors.empty()) return config;
  std::string message;
  for (const std::string& e : errors) message += (message.empty() ? "" : "\n") + e;
  return InvalidArgument(message);
}

Result<uint64_t> MemoryBudgetBytes(const VmConfig& vm, uint64_t host_mem_total) {
  if (vm.memory_budget != "auto") return checks::ParseByteSize(vm.memory_budget);
  ASSIGN_OR_RETURN(uint64_t reserve, checks::ParseByteSize(vm.memory_reserve));
  if (reserve >= host_mem_total) return uint64_t{0};
  return static_cast<uint64_t>(static_cast<double>(host_mem_total - reserve) *
                               vm.memory_overcommit);
}

Result<Config> LoadConfig(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec) && !ec) return Config{};
  std::ifstream in(file, std::ios::binary);
  if (!in) return ErrnoError("cannot read config " + file.string(), errno);
  std::ostringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), file.string());
}

std::string DefaultConfigToml() {
  const Config defaults;
  std::string out =
      "# warren daemon configuration. Every key is optional; the values below are the\n"
      "# built-in defaults. Unknown keys and bad values stop the daemon from starting.\n";
  for (std::string_view table : Tables()) {
    out += "\n[" + std::string(table) + "]\n";
    for (const Field& f : Fields()) {
      if (f.table != table) continue;
      out += "# " + std::string(f.help) + "\n";
      out += std::string(f.key) + " = " + f.print(defaults) + "\n";
    }
  }
  return out;
}

}  // namespace warren
