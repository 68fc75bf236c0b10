#include "daemon/daemon.h"

#include <grp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "base/check.h"
#include "dns/server.h"
#include "events/event_bus.h"
#include "image/registry.h"
#include "net/netns.h"
#include "net/tap_pool.h"
#include "ops/op_registry.h"
#include "rpc/server.h"
#include "rpc/services.h"
#include "session/guest_ssh.h"
#include "session/session_registry.h"
#include "store/store.h"
#include "vm/vm_manager.h"
#include "web/auth.h"
#include "web/server.h"

namespace warren {
namespace {

Result<std::optional<gid_t>> SocketGroup(const std::string& name) {
  if (name.empty()) return std::optional<gid_t>();
  struct group* g = getgrnam(name.c_str());
  if (g == nullptr) {
    return InvalidArgument("rpc.socket_group = \"" + name +
                           "\" is not a group on this host; create it or leave the key empty");
  }
  return std::optional<gid_t>(g->gr_gid);
}

}  // namespace

Daemon::Daemon(Layout layout, Config config, DaemonDeps deps, PidFile pid)
    : layout_(std::move(layout)),
      config_(std::move(config)),
      deps_(std::move(deps)),
      pid_(std::move(pid)),
      started_ms_(deps_.clock->NowUnixMillis()) {}

Daemon::~Daemon() { (void)Close(); }

Result<std::unique_ptr<Daemon>> Daemon::Open(const Layout& layout, DaemonDeps deps) {
  deps.CheckComplete();
  RETURN_IF_ERROR(layout.Ensure());
  // The pid lock comes first: nothing under the root is touched while another
  // daemon owns it.
  ASSIGN_OR_RETURN(PidFile pid, PidFile::Acquire(layout.pid_file, layout.Describe()));
  ASSIGN_OR_RETURN(Config config, LoadConfig(layout.config_file));
  ASSIGN_OR_RETURN(std::optional<gid_t> socket_gid, SocketGroup(config.rpc.socket_group));
  ASSIGN_OR_RETURN(Accelerator accel,
                   ChooseAccelerator(config.vm.accelerator, deps.host_probe->ProbeKvm()));

  std::unique_ptr<Daemon> d(new Daemon(layout, std::move(config), std::move(deps), std::move(pid)));
  d->accelerator_ = accel;
  ASSIGN_OR_RETURN(d->store_, Store::Open(layout.db_file));
  // Recovery: the registry marks ops a crash interrupted as failed.
  d->events_ = std::make_unique<EventBus>(d->deps_.clock.get());
  d->ops_ = std::make_unique<OpRegistry>(
      d->store_.get(), d->deps_.clock.get(),
      [bus = d->events_.get()](std::string_view action, const OpInfo& op) {
        bus->Publish("op", action, op.id, OpInfoToJson(op));
      });
  // Recovery: staging debris of interrupted builds goes, unpublished dirs too.
  ImageRegistry::Options image_opts;
  image_opts.images_dir = layout.images_dir;
  image_opts.cache_dir = d->config_.images.cache_dir.empty()
                             ? layout.cache_dir
                             : std::filesystem::path(d->config_.images.cache_dir);
  image_opts.build_timeout = std::chrono::seconds(d->config_.images.build_timeout_s);
  // Called under imageOpsMu, only while RPCs are served (so vms_ is set).
  image_opts.users = [daemon = d.get()](std::string_view image) {
    return daemon->vms_ ? daemon->vms_->ImageUsers(image) : std::vector<ImageUser>();
  };
  image_opts.on_change = [bus = d->events_.get()](std::string_view action, const ImageInfo& image) {
    bus->Publish("image", action, image.name,
                 action == "deleted" ? nlohmann::json::object() : ImageInfoToJson(image));
  };
  ASSIGN_OR_RETURN(d->images_,
                   ImageRegistry::Open(std::move(image_opts), d->store_.get(), d->ops_.get(),
                                       d->deps_.image_builder.get(), d->deps_.runner.get(),
                                       d->deps_.clock.get()));
  RETURN_IF_ERROR(d->OpenNetwork());
  RETURN_IF_ERROR(d->OpenVms());
  RETURN_IF_ERROR(d->OpenDns());

  rpc::Services services;
  services.info = {WARREN_VERSION,       getpid(),
                   d->started_ms_,       layout.root.string(),
                   layout.socket.string(), std::string(AcceleratorName(accel))};
  services.config = &d->config_;
  services.clock = d->deps_.clock.get();
  services.store = d->store_.get();
  services.ops = d->ops_.get();
  services.images = d->images_.get();
  services.vms = d->vms_.get();
  services.dialer = d->dialer_.get();
  services.sessions = d->sessions_.get();
  services.client_private_key = d->client_key_.private_key;
  services.guest_sockets = d->deps_.network->GuestSockets(*d->vm_ns_);
  services.dns_records = &d->dns_records_;
  services.tap_pool = d->tap_pool_.get();
  services.events = d->events_.get();
  services.health = [daemon = d.get()] { return daemon->HealthChecks(); };
  // Read only while RPCs are served: OpenWeb has run by then and Close stops
  // the web server and the unix server before anything they read goes.
  services.web.info = [daemon = d.get()] { return daemon->WebInfo(); };
  services.web.rotate = [daemon = d.get()] { return daemon->WebRotate(); };
  services.network = {d->config_.network.mode,
                      d->vm_ns_->name().empty() ? "(daemon's own)" : d->vm_ns_->name(),
                      d->config_.network.bridge,
                      d->config_.network.subnet,
                      d->config_.dns.enabled ? d->config_.dns.domain : "",
                      d->host_dns_address_,
                      d->uplink_ ? d->uplink_->host_link + " " + d->uplink_->host_ip + " <-> " +
                                       d->uplink_->vm_link + " " + d->uplink_->vm_ip
                                 : ""};
  d->dispatcher_ = d->deps_.request_handler(services);
  CHECK(d->dispatcher_ != nullptr);

  const RpcConfig& rc = d->config_.rpc;
  rpc::ServerOptions opts;
  opts.socket = layout.socket;
  opts.max_frame_bytes = static_cast<uint32_t>(rc.max_frame_bytes);
  opts.max_connections = static_cast<int>(rc.max_connections);
  opts.max_requests_per_connection = static_cast<int>(rc.max_requests_per_connection);
  opts.idle_timeout = std::chrono::seconds(rc.idle_timeout_s);
  opts.socket_gid = socket_gid;
  ASSIGN_OR_RETURN(d->server_, rpc::Server::Listen(opts, d->dispatcher_.get()));
  d->OpenWeb();
  spdlog::info("warren {} pid {} serving on {} (root {}, accelerator {})", WARREN_VERSION, getpid(),
               layout.socket.string(), layout.root.empty() ? "system" : layout.root.string(),
               AcceleratorName(accel));
  return d;
}

Status Daemon::Serve() {
  if (web_server_) {
    // A Serve after Close starts nothing: Close has joined the slot already.
    MutexLock lock(&web_thread_mu_);
    if (!web_thread_closed_) {
      web_thread_ = std::thread([web = web_server_.get()] { web->Serve(); });
    }
  }
  server_->Serve();
  return Status::Ok();
}

Status Daemon::Close() {
  if (closed_.exchange(true)) return Status::Ok();
  // 1. Refuse new mutations while in-flight work winds down.
  if (dispatcher_) dispatcher_->SetDraining();
  // 2. Cancel in-flight operations; their bodies roll back before returning.
  if (ops_) ops_->Shutdown();
  // 3. Stop accepting, disconnect clients (web first: its WebSockets are
  // clients too), remove the socket.
  if (web_server_) web_server_->Shutdown();
  std::thread web_thread;
  {
    MutexLock lock(&web_thread_mu_);
    web_thread_closed_ = true;
    web_thread.swap(web_thread_);
  }
  if (web_thread.joinable()) web_thread.join();
  if (server_) server_->Shutdown();
  // 4. The VM side: DNS servers, the VM manager (QEMUs keep running), the TAP
  // pool, and the namespace if no VM runs in it.
  CloseVms();
  // 5. Flush the store (closing checkpoints the WAL) and drop the pid file.
  images_.reset();
  ops_.reset();
  store_.reset();
  pid_.Release();
  spdlog::info("closed");
  return Status::Ok();
}

}  // namespace warren
