#include "shim/pod.h"

#include <sys/mount.h>
#include <unistd.h>

#include <cctype>

namespace warren::shim {

using nlohmann::json;

std::string VmNameFor(const std::string& ns, const std::string& id) {
  std::string name = "ctr-" + ns + "-" + id;
  for (char& c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '-';
  }
  if (name.size() > 63) name.resize(63);
  while (!name.empty() && name.back() == '-') name.pop_back();
  return name;
}

std::filesystem::path Placement::pod_dir() const {
  if (!in_pod()) return {};
  return std::filesystem::path(kPodsDir) / vm;
}

Placement PlaceTask(const std::string& ns, const std::string& id, const json& spec) {
  Placement p{Placement::Kind::kOwnVm, VmNameFor(ns, id), "", kGuestRoot};
  json annotations = spec.is_object() ? spec.value("annotations", json::object()) : json::object();
  if (!annotations.is_object()) return p;
  auto text = [&](const char* key) {
    auto it = annotations.find(key);
    return it != annotations.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string type = text(kContainerTypeAnnotation);
  std::string sandbox = text(kSandboxIdAnnotation);
  if (type == "sandbox") {
    p.kind = Placement::Kind::kSandbox;
  } else if (type == "container" && !sandbox.empty() && sandbox != id &&
             sandbox.find('/') == std::string::npos) {
    p.kind = Placement::Kind::kContainer;
    p.sandbox_id = sandbox;
    p.vm = VmNameFor(ns, sandbox);
    // Container ids are containerd's ([A-Za-z0-9_.-]): safe as one path element.
    p.guest_root = std::string(kGuestPodDir) + "/" + id;
  }
  return p;
}

Status PreparePodDir(const Placement& p) {
  std::filesystem::path dir = p.pod_dir();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("make pod directory " + dir.string() + ": " + ec.message());
  // A bind of itself, then shared: the host's / may be private, and only a
  // shared mount propagates the binds made under it later.
  if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return ErrnoError("bind pod directory " + dir.string(), errno);
  }
  if (::mount(nullptr, dir.c_str(), nullptr, MS_SHARED, nullptr) != 0) {
    int err = errno;
    (void)::umount2(dir.c_str(), MNT_DETACH);
    return ErrnoError("make pod directory " + dir.string() + " a shared mount", err);
  }
  return Status::Ok();
}

Status AttachRootfs(const Placement& p, const std::string& id, const std::filesystem::path& rootfs) {
  std::filesystem::path dir = p.pod_dir();
  if (!std::filesystem::is_directory(dir)) {
    return FailedPrecondition("container " + id + ": its sandbox " + p.sandbox_id +
                              " has no VM here (create the sandbox task first)");
  }
  std::filesystem::path target = dir / id;
  std::error_code ec;
  std::filesystem::create_directory(target, ec);
  if (ec) return Internal("make " + target.string() + ": " + ec.message());
  if (::mount(rootfs.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return ErrnoError("bind container " + id + "'s rootfs into its pod at " + target.string(), errno);
  }
  return Status::Ok();
}

void DetachFromPod(const Placement& p, const std::string& id) {
  if (!p.in_pod()) return;
  std::filesystem::path dir = p.pod_dir();
  std::filesystem::path target = p.kind == Placement::Kind::kContainer ? dir / id : dir;
  // MNT_DETACH takes the subtree too: a sandbox's pod directory goes with any
  // container binds a dead shim left in it.
  (void)::umount2(target.c_str(), MNT_DETACH);
  // rmdir, never a recursive remove: if a bind were still there, its files are
  // the container's snapshot.
  if (p.kind == Placement::Kind::kSandbox) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) (void)::rmdir(e.path().c_str());
  }
  (void)::rmdir(target.c_str());
}

}  // namespace warren::shim
