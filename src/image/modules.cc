#include "image/modules.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace warren {
namespace {

std::string Normalize(std::string_view name) {
  std::string n(name);
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

struct DepGraph {
  std::map<std::string, std::string> path_by_name;               // normalized name -> path
  std::map<std::string, std::vector<std::string>> deps_by_path;  // path -> dep paths
};

DepGraph ParseModulesDep(std::string_view text) {
  DepGraph g;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string path = line.substr(0, colon);
    std::istringstream deps(line.substr(colon + 1));
    std::vector<std::string> list;
    for (std::string d; deps >> d;) list.push_back(d);
    g.path_by_name[Normalize(ModuleName(path))] = path;
    g.deps_by_path[path] = std::move(list);
  }
  return g;
}

}  // namespace

const std::vector<std::string>& InitramfsModules() {
  static const auto* const kModules =
      new std::vector<std::string>{"virtio_pci", "virtio_blk", "virtio_net", "isofs"};
  return *kModules;
}

const std::vector<std::string>& MinimalRootModules() {
  static const auto* const kModules = new std::vector<std::string>{"virtio_pci",
                                                                   "virtio_blk",
                                                                   "virtio_net",
                                                                   "isofs",
                                                                   "button",
                                                                   "evdev",
                                                                   "virtio_rng",
                                                                   "virtio_console",
                                                                   "virtio_balloon",
                                                                   "vmw_vsock_virtio_transport",
                                                                   "virtiofs",
                                                                   "overlay",
                                                                   "tun"};
  return *kModules;
}

std::string ModuleName(std::string_view path) {
  size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  size_t ko = base.find(".ko");
  return std::string(ko == std::string_view::npos ? base : base.substr(0, ko));
}

Result<std::vector<std::string>> ModuleLoadOrder(std::string_view modules_dep,
                                                 const std::vector<std::string>& wanted,
                                                 bool skip_missing) {
  DepGraph g = ParseModulesDep(modules_dep);
  std::vector<std::string> order;
  std::set<std::string> done;
  // Post-order DFS: dependencies land in `order` before their users. The
  // graph is acyclic (the kernel refuses cyclic module dependencies), and
  // `done` is set before recursing, so a malformed cycle cannot loop.
  std::function<Status(const std::string&)> visit = [&](const std::string& path) -> Status {
    if (!done.insert(path).second) return Status::Ok();
    auto it = g.deps_by_path.find(path);
    if (it == g.deps_by_path.end()) {
      return NotFound("module dependency " + path + " is not in modules.dep");
    }
    for (const std::string& dep : it->second) RETURN_IF_ERROR(visit(dep));
    order.push_back(path);
    return Status::Ok();
  };
  for (const std::string& name : wanted) {
    auto it = g.path_by_name.find(Normalize(name));
    if (it == g.path_by_name.end()) {
      if (skip_missing) continue;
      return NotFound("kernel module \"" + name + "\" is not in modules.dep");
    }
    RETURN_IF_ERROR(visit(it->second));
  }
  return order;
}

}  // namespace warren
