#include "shim/daemon_calls.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cmath>

#include "rpc/client.h"
#include "shim/task_service.h"

namespace warren::shim {

using nlohmann::json;

VmSize SizeFromOciSpec(const json& spec) {
  VmSize size;
  json res = spec.value("/linux/resources"_json_pointer, json::object());
  json cpu = res.value("cpu", json::object());
  if (cpu.value("quota", int64_t{0}) > 0 && cpu.value("period", int64_t{0}) > 0) {
    double n = static_cast<double>(cpu["quota"].get<int64_t>()) / cpu["period"].get<int64_t>();
    size.cpus = static_cast<int>(std::ceil(n));
  }
  int64_t limit = res.value("memory", json::object()).value("limit", int64_t{0});
  if (limit > 0) size.memory_mib = std::max<int>(kMinMemoryMib, static_cast<int>(limit >> 20));
  return size;
}

VmSize SizeForSandbox(const json& spec) {
  VmSize size = SizeFromOciSpec(spec);
  json a = spec.value("annotations", json::object());
  if (!a.is_object()) return size;
  auto number = [&](const char* key) -> int64_t {  // annotations are strings
    auto it = a.find(key);
    if (it == a.end() || !it->is_string()) return 0;
    int64_t v = 0;
    const std::string& s = it->get_ref<const std::string&>();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && end == s.data() + s.size() && v > 0 ? v : 0;
  };
  int64_t quota = number("io.kubernetes.cri.sandbox-cpu-quota");
  int64_t period = number("io.kubernetes.cri.sandbox-cpu-period");
  // Clamped so a hostile annotation cannot overflow; the daemon refuses what
  // the host cannot give.
  if (quota > 0 && period > 0) {
    size.cpus = static_cast<int>(std::min<int64_t>(quota / period + (quota % period != 0), 1024));
  }
  if (int64_t mem = number("io.kubernetes.cri.sandbox-memory"); mem > 0) {
    int64_t mib = (mem >> 20) + ((mem & ((1 << 20) - 1)) != 0);
    size.memory_mib = kMinMemoryMib + static_cast<int>(std::min<int64_t>(mib, 1 << 24));
  }
  return size;
}

Status CreateVm(const std::filesystem::path& socket, const std::string& name, VmSize size,
                const json& caps) {
  ASSIGN_OR_RETURN(std::unique_ptr<rpc::Client> c, rpc::Client::Connect(socket));
  json params = {{"name", name}, {"caps", caps}};
  if (size.cpus > 0) params["cpus"] = size.cpus;
  if (size.memory_mib > 0) params["memory_mib"] = size.memory_mib;
  ASSIGN_OR_RETURN(json started, c->Call("vm.create", params));
  ASSIGN_OR_RETURN(json op, c->Call("op.wait", {{"id", started.value("op", "")}}));
  if (op.value("state", "") == "succeeded") return Status::Ok();
  return Unavailable("warren could not create VM " + name + ": " + op.value("error", "") +
                     " (see `warren op get " + started.value("op", "") + "`)");
}

Status RemoveVm(const std::filesystem::path& socket, const std::string& name) {
  ASSIGN_OR_RETURN(std::unique_ptr<rpc::Client> c, rpc::Client::Connect(socket));
  Result<json> r = c->Call("vm.rm", {{"name", name}, {"force", true}});
  if (!r.ok() && r.status().code() != Code::kNotFound) return r.status();
  return Status::Ok();
}

Status Publish(const ShimOptions& o, const std::string& topic, const std::string& any_bytes) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoError("pipe", errno);
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError("fork", errno);
  if (pid == 0) {
    ::dup2(p[0], 0);
    ::execl(o.publish_binary.c_str(), o.publish_binary.c_str(), "--address",
            o.containerd_address.c_str(), "publish", "--topic", topic.c_str(), "--namespace",
            o.ns.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(p[0]);
  (void)!::write(p[1], any_bytes.data(), any_bytes.size());
  ::close(p[1]);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return Status::Ok();
  return Unavailable("publishing " + topic + " through " + o.publish_binary + " failed");
}

}  // namespace warren::shim
