// Daemon::Open's VM half: network namespace, bridge, TAP pool, SSH identity,
// guest dialer, VM manager (with crash recovery) and the VM DNS servers; and
// Close's counterpart. Kept apart from daemon.cc so that file stays the
// composition root's outline.
#include <fmt/ranges.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <sstream>

#include "base/check.h"
#include "daemon/client_key.h"
#include "daemon/daemon.h"
#include "dns/listen.h"
#include "dns/server.h"
#include "events/event_bus.h"
#include "image/registry.h"
#include "net/ip_alloc.h"
#include "net/netns.h"
#include "net/tap_pool.h"
#include "rpc/resource_json.h"
#include "session/guest_socket.h"
#include "session/session_registry.h"
#include "sys/files.h"
#include "sys/ksm.h"
#include "vm/hypervisor.h"
#include "vm/vm_manager.h"
#include "daemon/capabilities.h"
#include "config/config_checks.h"

namespace warren {
namespace {

// FNV-1a: stable across builds and runs, unlike std::hash.
uint32_t Fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

Result<ImageBoot> BootOf(ImageRegistry* images, std::string_view name) {
  ASSIGN_OR_RETURN(ImageInfo info, images->Get(name));
  if (info.state != "ready") {
    return FailedPrecondition("image \"" + info.name + "\" is " + info.state +
                              "; rebuild or re-register it");
  }
  const nlohmann::json& parts = info.manifest["parts"];
  auto part = [&](const char* role) -> std::filesystem::path {
    if (!parts.contains(role)) return {};
    return info.dir / parts[role].value("file", "");
  };
  return ImageBoot{part("kernel"), part("initrd"), part("rootfs"),
                   info.manifest.value("cmdline", "")};
}

// dns.upstreams ("IP[:port] ...", checked by the config) or, when empty, the
// host's /etc/resolv.conf; as "IP:port".
std::vector<std::string> UpstreamsFrom(const std::string& configured) {
  if (configured.empty()) {
    Result<std::string> resolv = ReadFileToString("/etc/resolv.conf");
    return resolv.ok() ? ParseResolvConf(*resolv) : std::vector<std::string>{};
  }
  std::vector<std::string> out;
  std::istringstream words(configured);
  for (std::string w; words >> w;) out.push_back(w.find(':') == std::string::npos ? w + ":53" : w);
  return out;
}

// The VM manager's TapSource over the daemon's TAP stock (which outlives it).
class StockTapSource final : public TapSource {
 public:
  explicit StockTapSource(TapStock* stock) : stock_(stock) {}
  Result<Tap> Take(const MacAddress& guest_mac) override { return stock_->Take(guest_mac); }
  Status Release(std::string_view name) override { return stock_->Release(name); }
  Status SetUp(std::string_view name, bool up) override { return stock_->SetUp(name, up); }

 private:
  TapStock* const stock_;
};

}  // namespace

std::string Daemon::NetnsName() const {
  if (!config_.network.netns.empty()) return config_.network.netns;
  if (layout_.root.empty()) return "warren";
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", Fnv1a(layout_.root.string()));
  return std::string("warren-") + hex;
}

Status Daemon::OpenNetwork() {
  const NetworkConfig& nc = config_.network;
  HostNetwork& net = *deps_.network;
  ASSIGN_OR_RETURN(ips_, IpAllocator::Create(nc.subnet));
  const IpAllocator& ips = *ips_;
  owns_netns_ = nc.mode != "host";
  ASSIGN_OR_RETURN(NetnsHandle ns, net.OpenNetns(owns_netns_ ? NetnsName() : ""));
  vm_ns_ = std::make_unique<NetnsHandle>(std::move(ns));
  RETURN_IF_ERROR(net.EnsureBridge(*vm_ns_, {nc.bridge, ips.GatewayCidr()})
                      .Annotate("bridge " + nc.bridge + " in " + vm_ns_->Describe()));
  // The daemon's own namespace is the host side of the nat uplink. In isolated
  // mode an uplink left by an earlier nat-mode run (the namespace outlives the
  // daemon while VMs run) goes, so isolated really has no way out.
  NatUplinkConfig uplink = NatUplinkFor(Fnv1a(NetnsName()), ips.Cidr());
  if (nc.mode == "nat") {
    uplink_ = uplink;
    RETURN_IF_ERROR(net.EnsureUplink(*vm_ns_, *uplink_)
                        .Annotate("network.mode = \"nat\": uplink " + uplink_->host_link));
  } else if (nc.mode == "isolated") {
    RETURN_IF_ERROR(
        net.RemoveUplink(uplink).Annotate("remove the nat uplink of an earlier run"));
  }
  TapPoolOptions pool;
  pool.bridge = nc.bridge;
  pool.target_size = static_cast<size_t>(nc.tap_pool_size);
  ASSIGN_OR_RETURN(tap_pool_, net.CreateTapStock(*vm_ns_, pool));
  tap_source_ = std::make_unique<StockTapSource>(tap_pool_.get());
  // Published ports reach guests from here in every mode: host clients
  // connect to the daemon's namespace, the relay's sockets live in vm_ns_.
  ASSIGN_OR_RETURN(port_relay_, PortRelay::Start(*vm_ns_, PortRelay::Options{}));
  return Status::Ok();
}

Status Daemon::OpenVms() {
  ASSIGN_OR_RETURN(client_key_, LoadOrCreateClientKey(layout_.state_dir / "ssh" / "id_ed25519"));
  dialer_ = deps_.guest_dialer(deps_.network->GuestSockets(*vm_ns_));
  CHECK(dialer_ != nullptr);
  VmManagerOptions o;
  o.vms_dir = layout_.vms_dir;
  // Beside vms/ (DIR/snapshots, /var/lib/warren/snapshots).
  o.snapshots_dir = layout_.vms_dir.parent_path() / "snapshots";
  o.run_dir = layout_.run_dir;
  o.failed_logs_dir = layout_.log_dir / "failed-creates";
  o.subnet = config_.network.subnet;
  o.search_domain = config_.dns.enabled ? config_.dns.domain : "";
  o.client_public_key = client_key_.public_key;
  o.accel = accelerator_ == Accelerator::kKvm ? Accel::kKvm : Accel::kTcg;
  o.qemu_binary = config_.vm.qemu_binary;
  o.tcg_tb_mib = static_cast<int>(config_.vm.tcg_tb_mib);
  // QEMU as an unprivileged user where possible: only root can switch, and the
  // user must exist.
  if (!config_.vm.qemu_user.empty() && ::geteuid() == 0) {
    if (::getpwnam(config_.vm.qemu_user.c_str()) != nullptr) {
      o.run_as = config_.vm.qemu_user;
    } else {
      spdlog::warn("vm.qemu_user \"{}\" does not exist; QEMU runs as root",
                   config_.vm.qemu_user);
    }
  }

  if (config_.vm.ksm) {
    // Host-wide and asked for: a failure is logged, the daemon runs without it.
    if (Status ksm = EnableKsm(deps_.ksm_dir); !ksm.ok()) {
      spdlog::warn("{}", ksm.message());
    } else {
      spdlog::info("KSM: merging identical guest pages ([vm] ksm = true)");
    }
  }

  // Admission control. "auto" needs the host's memory; without it there is
  // no budget to hold VMs to, which the log says.
  Result<uint64_t> host_memory = deps_.host_memory();
  if (config_.vm.memory_budget != "auto" || host_memory.ok()) {
    ASSIGN_OR_RETURN(o.memory_budget_bytes,
                     MemoryBudgetBytes(config_.vm, host_memory.ok() ? *host_memory : 0));
  } else {
    spdlog::warn("vm.memory_budget = \"auto\" but the host's memory is unknown ({}); VMs are "
                 "admitted without a memory budget",
                 host_memory.error().ToString());
  }
  ASSIGN_OR_RETURN(o.memory_overhead_bytes,
                   config_checks::ParseByteSize(config_.vm.memory_overhead));

  VmManagerDeps deps;
  deps.store = store_.get();
  deps.oom_killed = deps_.oom_killed;
  deps.connect_agent = deps_.connect_agent;
  deps.cpu_seconds = [usage = deps_.process_usage](pid_t pid) -> Result<double> {
    ASSIGN_OR_RETURN(metrics::ProcessUsage u, usage(pid));
    return u.cpu_seconds;
  };
  deps.ops = ops_.get();
  deps.runner = deps_.runner.get();
  deps.hypervisor = deps_.hypervisor.get();
  deps.taps = tap_source_.get();
  deps.clock = deps_.clock.get();
  deps.images = [images = images_.get()](std::string_view name) { return BootOf(images, name); };
  deps.wait_for_ssh = [wait = deps_.wait_for_guest_ready, dialer = dialer_.get(),
                       key = client_key_.private_key](
                          const GuestTarget& t, std::chrono::steady_clock::time_point deadline,
                          std::stop_token stop) -> Status {
    GuestEndpoint ep{t.ip, t.port, "root", t.host_key_public, key};
    return wait(*dialer, ep, deadline, std::move(stop));
  };
  deps.hooks.added = [records = &dns_records_](const std::string& name, const std::string& ip) {
    Status st = records->Set(name, ip);
    if (!st.ok()) spdlog::error("dns: record {} → {}: {}", name, ip, st.ToString());
  };
  deps.hooks.removed = [records = &dns_records_, bus = events_.get()](const std::string& name) {
    records->Remove(name);
    bus->Publish("vm", "deleted", name, nlohmann::json::object());
  };
  // The event bus hears every record change (a leaf lock: fine under a VM's
  // lock or createVMMu). The data is the VM as vm.list shows it.
  const std::string dns_domain = config_.dns.enabled ? config_.dns.domain : "";
  deps.hooks.created = [bus = events_.get(), dns_domain](const VmRecord& vm) {
    bus->Publish("vm", "created", vm.name, rpc::VmJson(vm, dns_domain));
  };
  deps.hooks.changed = [bus = events_.get(), dns_domain](const VmRecord& vm) {
    bus->Publish("vm", "changed", vm.name, rpc::VmJson(vm, dns_domain));
  };
  deps.hooks.oom_killed = [bus = events_.get(), dns_domain](const VmRecord& vm) {
    bus->Publish("vm", "oom-killed", vm.name, rpc::VmJson(vm, dns_domain));
  };
  // Sessions and execs on a guest end before it is stopped or deleted (under
  // the VM's lock), or once its QEMU exited on its own — on a QEMU watcher
  // thread, which is why the hook holds the registry itself (made first, freed
  // only after vms_ joined every watcher) and never reads sessions_.
  sessions_ = std::make_unique<SessionRegistry>(
      dialer_.get(),
      [this, key = client_key_.private_key](const std::string& vm) -> Result<GuestEndpoint> {
        // Called by RPC handlers only (SessionRegistry::Start), which run
        // after Open set vms_ and end before Close resets it.
        ASSIGN_OR_RETURN(GuestTarget t, vms_->SshTarget(vm));
        return GuestEndpoint{t.ip, t.port, "root", t.host_key_public, key};
      },
      deps_.clock.get(),
      SessionOptions{
          .on_change = [bus = events_.get()](std::string_view action, const SessionInfo& session) {
            bus->Publish("session", action, session.id, rpc::SessionJson(session));
          }});
  deps.hooks.guest_down = [sessions = sessions_.get()](const std::string& name) {
    sessions->GuestDown(name, "VM " + name + " is stopping or gone");
  };
  // Test seam for crash-recovery tests: WARREN_TEST_KILL_AT_STEP=STEP makes the
  // daemon SIGKILL itself right after a create records STEP, as a crash would.
  if (const char* step = std::getenv("WARREN_TEST_KILL_AT_STEP"); step != nullptr && *step) {
    deps.hooks.create_step = [kill_at = std::string(step)](const std::string& name,
                                                            const std::string& step_now) {
      if (step_now != kill_at) return;
      spdlog::warn("vm {}: WARREN_TEST_KILL_AT_STEP={}: killing the daemon", name, kill_at);
      spdlog::default_logger()->flush();
      ::raise(SIGKILL);
    };
  }
  CapabilityContext cap_context;
  cap_context.config = &config_;
  cap_context.images = images_.get();
  cap_context.dialer = dialer_.get();
  cap_context.client_private_key = client_key_.private_key;
  cap_context.network = deps_.network.get();
  cap_context.vm_ns = vm_ns_.get();
  cap_context.gateway = ips_->Gateway();
  cap_context.port_relay = port_relay_.get();
  cap_context.store = store_.get();
  RegisterCapabilities(cap_context, caps_);
  deps.caps = &caps_;
  ASSIGN_OR_RETURN(vms_, VmManager::Create(std::move(o), std::move(deps)));

  // Recovery, before anything is served: interrupted creates rolled back,
  // running VMs re-adopted; then TAPs nobody owns go and the pool refills.
  ASSIGN_OR_RETURN(std::set<std::string> owned, vms_->Recover());
  ASSIGN_OR_RETURN(std::vector<std::string> reaped, tap_pool_->ReapStale(owned));
  if (!reaped.empty()) spdlog::info("removed {} leftover TAP(s)", reaped.size());
  RETURN_IF_ERROR(tap_pool_->Start());
  ASSIGN_OR_RETURN(std::vector<VmRecord> all, vms_->List());
  for (const VmRecord& vm : all) {
    if (!vm.ip.empty()) (void)dns_records_.Set(vm.name, vm.ip);
  }
  return Status::Ok();
}

Status Daemon::OpenDns() {
  if (!config_.dns.enabled) return Status::Ok();
  const IpAllocator& ips = *ips_;
  DnsServerOptions opts;
  opts.zone.domain = config_.dns.domain;
  opts.zone.ns_ipv4 = ips.Gateway();
  opts.rate_qps = static_cast<double>(config_.dns.rate_limit_qps);

  // Guests ask the gateway (their seed names it as resolver), port 53, in the
  // VM namespace.
  ASSIGN_OR_RETURN(DnsListenSockets vm_side,
                   deps_.network->BindGuestDns(*vm_ns_, ips.Gateway(), 53));
  std::vector<UniqueFd> udp, tcp;
  udp.push_back(std::move(vm_side.udp));
  tcp.push_back(std::move(vm_side.tcp));
  // host and nat modes: names outside the zone go to the host's resolvers
  // (asked from the daemon's namespace). isolated: REFUSED, as guests have no
  // way out.
  DnsServerOptions guest_opts = opts;
  if (config_.network.mode == "host" || config_.network.mode == "nat") {
    guest_opts.upstreams = UpstreamsFrom(config_.dns.upstreams);
    if (guest_opts.upstreams.empty()) {
      spdlog::warn("dns: no upstream (dns.upstreams is empty and /etc/resolv.conf has no IPv4 "
                   "nameserver); guests get REFUSED for names outside {}", config_.dns.domain);
    } else {
      spdlog::info("dns: names outside {} go to {}", config_.dns.domain,
                   fmt::join(guest_opts.upstreams, " "));
    }
  }
  vm_dns_ = std::make_unique<DnsServer>(guest_opts, &dns_records_, deps_.clock.get());
  RETURN_IF_ERROR(vm_dns_->Start(std::move(udp), std::move(tcp)));

  // The host side is a convenience: if its address is taken the daemon still
  // runs (guests resolve each other) and says so; `doctor` reports it too.
  ASSIGN_OR_RETURN(auto host_port, ParseIpv4HostPort(config_.dns.host_listen));
  Result<DnsListenSockets> host_side =
      BindDnsSockets(host_port.first, host_port.second, [](int type) -> Result<UniqueFd> {
        int fd = ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return ErrnoError("socket", errno);
        return UniqueFd(fd);
      });
  if (!host_side.ok()) {
    spdlog::warn("dns: host listener not started: {}", host_side.error().ToString());
    return Status::Ok();
  }
  udp.clear();
  tcp.clear();
  udp.push_back(std::move(host_side->udp));
  tcp.push_back(std::move(host_side->tcp));
  host_dns_ = std::make_unique<DnsServer>(opts, &dns_records_, deps_.clock.get());
  RETURN_IF_ERROR(host_dns_->Start(std::move(udp), std::move(tcp)));
  host_dns_address_ = host_port.first + ":" + std::to_string(host_side->port);
  return Status::Ok();
}

void Daemon::CloseVms() {
  if (host_dns_) host_dns_->Shutdown();
  if (vm_dns_) vm_dns_->Shutdown();
  host_dns_.reset();
  vm_dns_.reset();
  bool any_live = false;
  if (vms_) {
    Result<std::vector<VmRecord>> all = vms_->List();
    any_live = !all.ok();  // unknown: keep the namespace
    if (all.ok()) {
      for (const VmRecord& vm : *all) any_live = any_live || IsLive(vm.state);
    }
  }
  // The VM manager goes first: its destructor joins every QEMU watcher thread,
  // whose exit callbacks reach the store, dns_records_ and sessions_ through
  // the hooks. After this no such thread runs. Running QEMUs keep running; the
  // next daemon adopts them.
  vms_.reset();
  // Then the sessions (their guest connections close, their threads join),
  // and the dialer they used.
  sessions_.reset();
  dialer_.reset();
  port_relay_.reset();  // every listener closes with it
  tap_source_.reset();
  if (tap_pool_) tap_pool_->Shutdown();
  tap_pool_.reset();
  if (vm_ns_ && owns_netns_ && !any_live) {
    // Nothing runs in it: the namespace (and its bridge, and in nat mode the
    // uplink) goes, so a stopped daemon leaves nothing behind. The next start
    // makes it again.
    if (uplink_) {
      Status st = deps_.network->RemoveUplink(*uplink_);
      if (!st.ok()) spdlog::warn("nat: remove uplink {}: {}", uplink_->host_link, st.ToString());
    }
    vm_ns_.reset();
    Status st = deps_.network->DeleteNetns(NetnsName());
    if (!st.ok() && st.code() != Code::kNotFound) {
      spdlog::warn("delete network namespace {}: {}", NetnsName(), st.ToString());
    }
  }
  vm_ns_.reset();
}

}  // namespace warren
