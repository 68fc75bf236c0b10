#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "base/status.h"

namespace warren {

// warren's daemon configuration: a plain aggregate whose member initializers are
// the built-in defaults. A value is immutable once loaded; the daemon reads it
// once at start and hands the sub-structs to the subsystems that need them.
//
// The file is TOML. Every table and key is optional; anything not given keeps its
// default. Unknown tables or keys, wrong types and out-of-range values are errors
// that name the key, the value and what is allowed — the daemon refuses to start.

struct DaemonConfig {
  std::string log_level = "info";  // trace | debug | info | warn | error

  bool operator==(const DaemonConfig&) const = default;
};

struct RpcConfig {
  int64_t max_frame_bytes = 4 << 20;         // 4 KiB .. 64 MiB
  int64_t max_connections = 256;             // 1 .. 4096
  int64_t max_requests_per_connection = 16;  // pending requests, 1 .. 1024
  int64_t idle_timeout_s = 600;              // 1 .. 86400
  std::string socket_group;                  // "" = root's group; else a group name

  bool operator==(const RpcConfig&) const = default;
};

struct VmConfig {
  std::string accelerator = "auto";  // auto | kvm | tcg
  std::string default_image = "default";
  int64_t default_cpus = 1;          // 1 .. 64
  int64_t default_memory_mib = 512;  // 128 .. 65536
  int64_t default_disk_gib = 4;      // 1 .. 2048
  std::string qemu_binary = "qemu-system-x86_64";
  // TCG translation cache per VM, MiB (0 = QEMU's own default, 1 GiB): see
  // kDefaultTcgTbMib in vm/qemu/argv.h for the measured choice.
  int64_t tcg_tb_mib = 32;  // 0 .. 1024
  // Turn on the kernel's same-page merging at daemon start (host-wide).
  bool ksm = false;
  // QEMU drops to this user (-runas) after opening its files, when the daemon
  // runs as root and the user exists; "" = QEMU keeps the daemon's user.
  std::string qemu_user = "nobody";
  // Admission control: VMs together may hold at most memory_budget, each
  // counted as its --memory plus memory_overhead (QEMU's own cost). "auto" =
  // (host MemTotal - memory_reserve) * memory_overcommit. Sizes are bytes or
  // "512MiB", "20GiB".
  std::string memory_budget = "auto";
  std::string memory_reserve = "1GiB";
  // 3: an idle default VM uses 123-145 MiB booted, 57 MiB as a clone, of the
  // 640 MiB it is charged (docs/BENCHMARKS.md, "Density"); 1 for hosts whose
  // guests use all their memory.
  double memory_overcommit = 3.0;  // 0.1 .. 10
  std::string memory_overhead = "128MiB";

  bool operator==(const VmConfig&) const = default;
};

struct NetworkConfig {
  std::string mode = "isolated";        // isolated | nat | host
  std::string subnet = "10.77.0.0/24";  // IPv4 CIDR, prefix 16 .. 29
  std::string bridge = "wbr0";          // interface name, at most 15 chars
  // Key `namespace`: the netns the daemon creates (isolated/nat). Empty: "warren"
  // for the system layout, "warren-<hash of the root>" under --root, so that
  // daemons on different roots never share a bridge.
  std::string netns;
  int64_t tap_pool_size = 4;            // 0 .. 64

  bool operator==(const NetworkConfig&) const = default;
};

struct DnsConfig {
  std::string domain = "warren.internal";      // a valid DNS name
  std::string host_listen = "127.0.0.1:5354";  // IPv4:port in the host namespace; port 0 = any
  std::string upstreams;  // "IPv4[:port] ..." for host/nat modes; "" = /etc/resolv.conf
  bool enabled = true;
  // Per-source UDP queries/s beyond which replies are TC (retry over TCP); 0 = no limit.
  // Only worth setting when host_listen is reachable from other machines.
  int64_t rate_limit_qps = 0;  // 0 .. 100'000'000

  bool operator==(const DnsConfig&) const = default;
};

struct ImagesConfig {
  std::string mirror;  // "" = the host's apt sources
  std::string suite = "bookworm";
  int64_t build_timeout_s = 1800;  // 60 .. 86400
  std::string cache_dir;           // "" = the layout's cache dir; else an absolute path

  bool operator==(const ImagesConfig&) const = default;
};

struct WebConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1:7780";  // IPv4:port; port 0 = any free port
  // A non-loopback listen address is refused unless this is set: the web UI
  // opens a shell into every VM and speaks plain HTTP.
  bool allow_remote = false;

  bool operator==(const WebConfig&) const = default;
};

struct Config {
  DaemonConfig daemon;
  RpcConfig rpc;
  VmConfig vm;
  NetworkConfig network;
  DnsConfig dns;
  ImagesConfig images;
  WebConfig web;

  bool operator==(const Config&) const = default;
};

// The memory budget in bytes that `vm` asks for on a host with `host_mem_total`
// bytes: memory_budget itself, or for "auto" (MemTotal - memory_reserve) *
// memory_overcommit (0 when the reserve exceeds the host). Sizes were checked
// at parse time; a bad one is InvalidArgument.
Result<uint64_t> MemoryBudgetBytes(const VmConfig& vm, uint64_t host_mem_total);

// Parses TOML text. `origin` names the source in error messages ("config.toml").
// Returns InvalidArgument naming the key, the value and what is allowed, e.g.
//   config.toml: network.mode = "bridged" is not allowed; use one of isolated, nat, host
Result<Config> ParseConfig(std::string_view toml_text, std::string_view origin);

// Reads and parses `file`. An absent file yields the defaults; an unreadable one
// is an error.
Result<Config> LoadConfig(const std::filesystem::path& file);

// A commented TOML file listing every key with its default value; ParseConfig of
// it yields Config{}.
std::string DefaultConfigToml();

}  // namespace warren
