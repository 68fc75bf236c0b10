#include "shim/task_service.h"

#include <sys/mount.h>
#include <unistd.h>

#include <fstream>

#include "github.com/containerd/containerd/api/events/task.pb.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb.h"
#include "rpc/client.h"
#include "shim/daemon_calls.h"

namespace warren::shim {
namespace {

namespace v2 = containerd::task::v2;
namespace types = containerd::v1::types;
using nlohmann::json;

constexpr char kService[] = "containerd.task.v2.Task";

template <typename T>
Result<T> Parse(std::string_view payload) {
  T msg;
  if (!msg.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return InvalidArgument("malformed " + std::string(T::descriptor()->name()));
  }
  return msg;
}

template <typename T>
std::string Serialize(const T& msg) {
  return msg.SerializeAsString();
}

void SetTime(google::protobuf::Timestamp* ts, std::chrono::system_clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  ts->set_seconds(ns / 1000000000);
  ts->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

// A Mount containerd prepared (the snapshot) becomes <bundle>/rootfs.
Status MountRootfs(const v2::CreateTaskRequest& req, const std::filesystem::path& target) {
  std::error_code ec;
  std::filesystem::create_directories(target, ec);
  for (const auto& m : req.rootfs()) {
    unsigned long flags = 0;
    std::string data;
    for (const std::string& o : m.options()) {
      if (o == "ro") flags |= MS_RDONLY;
      else if (o == "rw") continue;
      else if (o == "bind" || o == "rbind") flags |= MS_BIND | (o == "rbind" ? MS_REC : 0);
      else data += (data.empty() ? "" : ",") + o;
    }
    if (::mount(m.source().c_str(), target.c_str(), m.type().c_str(), flags,
                data.empty() ? nullptr : data.c_str()) != 0) {
      return ErrnoError("mount the task's rootfs (" + m.type() + ") on " + target.string(), errno);
    }
  }
  return Status::Ok();
}

Result<json> ReadSpec(const std::filesystem::path& bundle) {
  std::ifstream in(bundle / "config.json");
  if (!in) return NotFound("no config.json in bundle " + bundle.string());
  json spec = json::parse(in, nullptr, false);
  if (spec.is_discarded() || !spec.is_object()) {
    return InvalidArgument("bundle " + bundle.string() + ": config.json is not a JSON object");
  }
  return spec;
}

}  // namespace

Status CleanupTask(const ShimOptions& o, const std::string& id, const std::filesystem::path& bundle) {
  json spec = json::object();
  if (!bundle.empty()) {
    if (Result<json> s = ReadSpec(bundle); s.ok()) spec = *std::move(s);
  }
  Placement place = PlaceTask(o.ns, id, spec);
  // The VM goes first: a sandbox's virtiofsd holds the pod directory.
  Status rm = place.owns_vm() ? RemoveVm(o.daemon_socket, place.vm) : Status::Ok();
  DetachFromPod(place, id);
  if (!bundle.empty()) (void)::umount2((bundle / "rootfs").c_str(), MNT_DETACH);
  return rm;
}

TaskService::TaskService(ShimOptions options, std::function<void()> shutdown)
    : options_(std::move(options)), shutdown_(std::move(shutdown)) {}

std::vector<ttrpc::MethodRow> TaskService::Table() {
  using Fn = Result<std::string> (TaskService::*)(std::string_view);
  const std::pair<const char*, Fn> rows[] = {
      {"Create", &TaskService::Create},   {"Start", &TaskService::Start},
      {"Wait", &TaskService::Wait},       {"State", &TaskService::State},
      {"Kill", &TaskService::Kill},       {"Delete", &TaskService::Delete},
      {"Pids", &TaskService::Pids},       {"Exec", &TaskService::Exec},
      {"ResizePty", &TaskService::ResizePty}, {"CloseIO", &TaskService::CloseIO},
      {"Connect", &TaskService::Connect}, {"Shutdown", &TaskService::Shutdown},
  };
  std::vector<ttrpc::MethodRow> table;
  for (const auto& row : rows) {
    Fn fn = row.second;  // a structured binding cannot be captured before C++20's clang 16
    table.push_back({kService, row.first, [this, fn](std::string_view p) { return (this->*fn)(p); }});
  }
  return table;
}

Result<std::string> TaskService::Create(std::string_view payload) {
  ASSIGN_OR_RETURN(v2::CreateTaskRequest req, Parse<v2::CreateTaskRequest>(payload));
  std::filesystem::path bundle = req.bundle();
  ASSIGN_OR_RETURN(json spec, ReadSpec(bundle));
  ASSIGN_OR_RETURN(ProcessSpec ps, ParseOciProcess(spec.value("process", json::object())));
  Placement place = PlaceTask(options_.ns, req.id(), spec);
  {
    MutexLock lock(&mu_);
    if (tasks_.count(req.id())) return AlreadyExists("task " + req.id() + " already exists");
    tasks_[req.id()] = Task{bundle, place, {}, {}};  // reserved while the VM boots
  }
  Status st = MountRootfs(req, bundle / "rootfs");
  if (st.ok()) st = PlaceRootfs(req.id(), place, bundle / "rootfs", spec);
  if (!st.ok()) {
    (void)CleanupTask(options_, req.id(), bundle);
    MutexLock lock(&mu_);
    tasks_.erase(req.id());
    return st;
  }
  Stdio io{req.stdin(), req.stdout(), req.stderr()};
  ps.terminal = req.terminal();
  auto proc = std::make_shared<GuestProcess>(options_.daemon_socket, place.vm, ps, io,
                                             place.guest_root);
  {
    MutexLock lock(&mu_);
    tasks_[req.id()].init = Process{proc, ps, io};
  }
  v2::CreateTaskResponse resp;
  resp.set_pid(static_cast<uint32_t>(::getpid()));
  return Serialize(resp);
}

Status TaskService::PlaceRootfs(const std::string& id, const Placement& place,
                                const std::filesystem::path& rootfs, const json& spec) {
  if (!place.owns_vm()) return AttachRootfs(place, id, rootfs);
  json shares = json::array({rootfs.string() + ":" + kGuestRoot});
  VmSize size = SizeFromOciSpec(spec);
  if (place.kind == Placement::Kind::kSandbox) {
    RETURN_IF_ERROR(PreparePodDir(place));
    shares.push_back(place.pod_dir().string() + ":" + kGuestPodDir);
    // The pod's sum, from the CRI plugin: a running VM does not grow when
    // its containers are created with their own limits.
    size = SizeForSandbox(spec);
  }
  return CreateVm(options_.daemon_socket, place.vm, size, {{"share", shares}});
}

Result<TaskService::Process> TaskService::Find(const std::string& id, const std::string& exec_id) {
  MutexLock lock(&mu_);
  auto t = tasks_.find(id);
  if (t == tasks_.end()) return NotFound("task " + id + " not found");
  if (exec_id.empty()) {
    if (!t->second.init.proc) return FailedPrecondition("task " + id + " is still being created");
    return t->second.init;
  }
  auto e = t->second.execs.find(exec_id);
  if (e == t->second.execs.end()) return NotFound("exec " + exec_id + " of task " + id + " not found");
  return e->second;
}

Result<std::string> TaskService::Start(std::string_view payload) {
  ASSIGN_OR_RETURN(v2::StartRequest req, Parse<v2::StartRequest>(payload));
  ASSIGN_OR_RETURN(Process p, Find(req.id(), req.exec_id()));
  RETURN_IF_ERROR(p.proc->Start());
  std::string id = req.id(), exec_id = req.exec_id();
  std::shared_ptr<GuestProcess> proc = p.proc;
  std::thread([this, proc, id, exec_id] { PublishExit(id, exec_id, proc->Wait()); }).detach();
  v2::StartResponse resp;
  resp.set_pid(static_cast<uint32_t>(::getpid()));
  return Serialize(resp);
}

Result<std::string> TaskService::Wait(std::string_view payload) {
  ASSIGN_OR_RETURN(v2::WaitRequest req, Parse<v2::WaitRequest>(payload));
  ASSIGN_OR_RETURN(Process p, Find(req.id(), req.exec_id()));
  v2::WaitResponse resp;
  ExitInfo e = p.proc->Wait();
  resp.set_exit_status(e.status);
  SetTime(resp.mutable_exited_at(), e.at);
  return Serialize(resp);
}

Result<std::string> TaskService::State(std::string_view payload) {
  ASSIGN_OR_RETURN(v2::StateRequest req, Parse<v2::StateRequest>(payload));
  ASSIGN_OR_RETURN(Process p, Find(req.id(), req.exec_id()));
  v2::StateResponse resp;
  resp.set_id(req.id());
  resp.set_exec_id(req.exec_id());
  {
    MutexLock lock(&mu_);
    resp.set_bundle(tasks_[req.id()].bundle.string());
  }
  resp.set_pid(static_cast<uint32_t>(::getpid()));
  resp.set_stdin(p.io.stdin_path);
  resp.set_stdout(p.io.stdout_path);
  resp.set_stderr(p.io.stderr_path);
  resp.set_terminal(p.spec.terminal);
  if (auto e = p.proc->Exited()) {
    resp.set_status(types::STOPPED);
    resp.set_exit_status(e->status);
    SetTime(resp.mutable_exited_at(), e->at);
  } else {
    resp.set_status(p.proc->started() ? types::RUNNING : types::CREATED);
  }
  return Serialize(resp);
}

Result<std::string> TaskService::Kill(std::string_view payload) {
  ASSIGN_OR_RETURN(v2::KillRequest req, Parse<v2::KillRequest>(payload));
  ASSIGN_OR_RETURN(Process p, Find(req.id(), req.exec_id()));
  if (p.proc->started() && !p.proc->Exited()) RETURN_IF_ERROR(p.proc->Signal(static_cast<int>(req.signal())));
  return std::string();
}

Result<std::string> TaskService::Delete(std::string_view payload) {
  ASSIGN_OR_RETURN(v2::DeleteRequest req, Parse<v2::DeleteRequest>(payload));
  ASSIGN_OR_RETURN(Process p, Find(req.id(), req.exec_id()));
  std::optional<ExitInfo> e = p.proc->Exited();
  if (p.proc->started() && !e) return FailedPrecondition("process is still running; kill it first");
  std::filesystem::path bundle;
  {
    MutexLock lock(&mu_);
    if (!req.exec_id().empty()) {
      tasks_[req.id()].execs.erase(req.exec_id());
    } else {
      bundle = tasks_[req.id()].bundle;
    }
  }
  if (req.exec_id().empty()) {
    RETURN_IF_ERROR(CleanupTask(options_, req.id(), bundle));
    MutexLock lock(&mu_);
    tasks_.erase(req.id());
  }
  v2::DeleteResponse resp;
  resp.set_pid(static_cast<uint32_t>(::getpid()));
  resp.set_exit_status(e ? e->status : 0);
  SetTime(resp.mutable_exited_at(), e ? e->at : std::chrono::system_clock::now());
  return Serialize(resp);
}

Result<std::string> TaskService::Pids(std::string_view payload) {
  ASSIGN_OR_RETURN(v2::PidsRequest req, Parse<v2::PidsRequest>(payload));
  ASSIGN_OR_RETURN(Process p, Find(req.id(), ""));
  v2::PidsResponse resp;
  // Guest pids are not host pids; the shim stands for the task on the host.
  resp.add_processes()->set_pid(static_cast<uint32_t>(::getpid()));
  return Serialize(resp);
}

Result<std::string> TaskService::Exec(std::string_view payload) {
  ASSIGN_OR_RETURN(v2::ExecProcessRequest req, Parse<v2::ExecProcessRequest>(payload));
  json process = json::parse(req.spec().value(), nullptr, false);
  ASSIGN_OR_RETURN(ProcessSpec ps, ParseOciProcess(process));
  ps.terminal = req.terminal();
  Stdio io{req.stdin(), req.stdout(), req.stderr()};
  MutexLock lock(&mu_);
  auto t = tasks_.find(req.id());
  if (t == tasks_.end()) return NotFound("task " + req.id() + " not found");
  if (t->second.execs.count(req.exec_id())) return AlreadyExists("exec " + req.exec_id() + " exists");
  auto proc = std::make_shared<GuestProcess>(options_.daemon_socket, t->second.place.vm, ps, io,
                                             t->second.place.guest_root);
  t->second.execs[req.exec_id()] = Process{proc, ps, io};
  return std::string();
}

Result<std::string> TaskService::ResizePty(std::string_view payload) {
  ASSIGN_OR_RETURN(v2::ResizePtyRequest req, Parse<v2::ResizePtyRequest>(payload));
  ASSIGN_OR_RETURN(Process p, Find(req.id(), req.exec_id()));
  if (req.width() == 0 || req.height() == 0) return std::string();
  RETURN_IF_ERROR(p.proc->Resize(req.width(), req.height()));
  return std::string();
}

Result<std::string> TaskService::CloseIO(std::string_view payload) {
  ASSIGN_OR_RETURN(v2::CloseIORequest req, Parse<v2::CloseIORequest>(payload));
  ASSIGN_OR_RETURN(Process p, Find(req.id(), req.exec_id()));
  if (req.stdin()) RETURN_IF_ERROR(p.proc->CloseStdin());
  return std::string();
}

Result<std::string> TaskService::Connect(std::string_view payload) {
  ASSIGN_OR_RETURN(v2::ConnectRequest req, Parse<v2::ConnectRequest>(payload));
  v2::ConnectResponse resp;
  resp.set_shim_pid(static_cast<uint32_t>(::getpid()));
  resp.set_task_pid(static_cast<uint32_t>(::getpid()));
  resp.set_version(WARREN_VERSION);
  return Serialize(resp);
}

Result<std::string> TaskService::Shutdown(std::string_view payload) {
  ASSIGN_OR_RETURN(v2::ShutdownRequest req, Parse<v2::ShutdownRequest>(payload));
  {
    MutexLock lock(&mu_);
    if (!tasks_.empty() && !req.now()) return std::string();  // tasks remain: keep serving
  }
  // The server is stopped from another thread: Shutdown joins connection
  // threads, and this handler runs on one of them.
  std::thread([fn = shutdown_] { fn(); }).detach();
  return std::string();
}

void TaskService::PublishExit(const std::string& id, const std::string& exec_id, const ExitInfo& e) {
  if (options_.publish_binary.empty()) return;
  containerd::events::TaskExit ev;
  ev.set_container_id(id);
  ev.set_id(exec_id.empty() ? id : exec_id);
  ev.set_pid(static_cast<uint32_t>(::getpid()));
  ev.set_exit_status(e.status);
  SetTime(ev.mutable_exited_at(), e.at);
  google::protobuf::Any any;
  any.set_type_url("containerd.events.TaskExit");
  any.set_value(ev.SerializeAsString());
  (void)Publish(options_, "/tasks/exit", any.SerializeAsString());
}

}  // namespace warren::shim
