// The VM manager's side of the capability contract (vm/capability.h): which
// hook runs when, with which stored settings. The manager never knows a
// capability's name; it walks the registry in order (and back for undo).
#include <algorithm>

#include "vm/vm_manager.h"

#include <spdlog/spdlog.h>

namespace warren {
namespace {

std::string KnownNames(const CapabilityRegistry &caps) {
  std::string names;
  for (const auto &cap : caps.all())
    names += (names.empty() ? "" : ", ") + std::string(cap->Name());
  return names.empty() ? "none" : names;
}

} // namespace

Result<VmManager::CapList> VmManager::ValidateCaps(const CreateRequest &request) {
  if (!request.caps.is_object()) {
    return InvalidArgument("caps must be an object of capability name → request, got " +
                           std::string(request.caps.type_name()));
  }
  for (const auto &[name, value] : request.caps.items()) {
    if (deps_.caps->Find(name) == nullptr) {
      std::string shown = name.size() > 64 ? name.substr(0, 64) + "..." : name;
      return InvalidArgument("unknown capability \"" + shown +
                             "\"; known: " + KnownNames(*deps_.caps));
    }
  }
  CapList list;
  for (const auto &cap : deps_.caps->all()) {
    auto it = request.caps.find(std::string(cap->Name()));
    if (it == request.caps.end() || it->is_null())
      continue;
    if (!request.from_snapshot.empty() && cap->NeedsFirstBoot()) {
      return FailedPrecondition(
          "capability \"" + std::string(cap->Name()) +
          "\" acts when a guest boots, and a clone (--from " + request.from_snapshot +
          ") resumes its snapshot's guest instead; give it to the VM the snapshot is "
          "taken of, or create this VM without --from");
    }
    ASSIGN_OR_RETURN(nlohmann::json settings, cap->Validate(*it, request));
    list.push_back({cap.get(), std::move(settings)});
  }
  return list;
}

Result<VmManager::CapList> VmManager::LoadCaps(const VmRecord &vm) {
  ASSIGN_OR_RETURN(std::vector<VmCapRecord> rows, deps_.store->ListVmCaps(vm.id));
  CapList list;
  for (const auto &cap : deps_.caps->all()) {
    auto row = std::find_if(rows.begin(), rows.end(),
                            [&](const VmCapRecord &r) { return r.cap == cap->Name(); });
    if (row == rows.end())
      continue;
    nlohmann::json settings = nlohmann::json::parse(row->settings_json, nullptr, false);
    if (settings.is_discarded()) {
      return Internal("VM \"" + vm.name + "\": stored settings of capability \"" + row->cap +
                      "\" are not JSON");
    }
    list.push_back({cap.get(), std::move(settings)});
  }
  for (const VmCapRecord &row : rows) {
    if (deps_.caps->Find(row.cap) == nullptr)
      spdlog::warn("vm {}: capability \"{}\" is not known to this daemon; ignored", vm.name,
                   row.cap);
  }
  return list;
}

Status VmManager::ContributeSeed(const VmRecord &vm, SeedSpec &seed) {
  ASSIGN_OR_RETURN(CapList caps, LoadCaps(vm));
  for (const CapEntry &c : caps) {
    RETURN_IF_ERROR(c.cap->ContributeSeed(ViewOf(vm), c.settings, seed)
                        .Annotate("capability " + std::string(c.cap->Name())));
  }
  return Status::Ok();
}

Status VmManager::ContributeQemu(const VmRecord &vm, VmSpec &spec) {
  ASSIGN_OR_RETURN(CapList caps, LoadCaps(vm));
  for (const CapEntry &c : caps) {
    RETURN_IF_ERROR(c.cap->ContributeQemu(ViewOf(vm), c.settings, spec)
                        .Annotate("capability " + std::string(c.cap->Name())));
  }
  return Status::Ok();
}

Status VmManager::ReadyCaps(const VmRecord &vm, bool adopted) {
  ASSIGN_OR_RETURN(CapList caps, LoadCaps(vm));
  {
    MutexLock lock(&caps_up_mu_);
    caps_up_.insert(vm.id);
  }
  for (const CapEntry &c : caps) {
    Status st = adopted ? c.cap->OnAdopt(ViewOf(vm), c.settings)
                        : c.cap->OnReady(ViewOf(vm), c.settings);
    RETURN_IF_ERROR(st.Annotate("capability " + std::string(c.cap->Name())));
  }
  return Status::Ok();
}

void VmManager::StopCaps(const VmRecord &vm, bool always) {
  {
    MutexLock lock(&caps_up_mu_);
    bool was_up = caps_up_.erase(vm.id) > 0;
    if (!was_up && !always)
      return;
  }
  Result<CapList> caps = LoadCaps(vm);
  if (!caps.ok()) {
    spdlog::error("vm {}: capabilities not stopped: {}", vm.name, caps.error().ToString());
    return;
  }
  for (auto it = caps->rbegin(); it != caps->rend(); ++it)
    it->cap->OnStop(ViewOf(vm), it->settings);
}

void VmManager::DeleteCaps(const VmRecord &vm) {
  StopCaps(vm);
  Result<CapList> caps = LoadCaps(vm);
  if (!caps.ok()) {
    spdlog::error("vm {}: capabilities not undone: {}", vm.name, caps.error().ToString());
    return;
  }
  for (auto it = caps->rbegin(); it != caps->rend(); ++it)
    it->cap->OnDelete(ViewOf(vm), it->settings);
}

Result<nlohmann::json> VmManager::DescribeCaps(const VmRecord &vm) {
  ASSIGN_OR_RETURN(CapList caps, LoadCaps(vm));
  nlohmann::json out = nlohmann::json::object();
  for (const CapEntry &c : caps)
    out[std::string(c.cap->Name())] = c.cap->DescribeVm(ViewOf(vm), c.settings);
  return out;
}

Result<nlohmann::json> VmManager::ChangeCapability(std::string_view name, std::string_view cap,
                                                   const nlohmann::json &change,
                                                   const LockWait &wait) {
  Capability *capability = deps_.caps->Find(cap);
  if (capability == nullptr) {
    return NotFound("unknown capability \"" + std::string(cap) +
                    "\"; known: " + KnownNames(*deps_.caps));
  }
  nlohmann::json described;
  RETURN_IF_ERROR(WithSettledVmLock(
      name, "vm.caps." + std::string(cap), wait, [&](VmRecord &vm) -> Status {
        ASSIGN_OR_RETURN(CapList caps, LoadCaps(vm));
        nlohmann::json settings = nullptr;
        for (const CapEntry &c : caps)
          if (c.cap == capability)
            settings = c.settings;
        ASSIGN_OR_RETURN(nlohmann::json next,
                         capability->Change(ViewOf(vm), settings, change,
                                            vm.state == VmState::kRunning));
        RETURN_IF_ERROR(deps_.store->PutVmCap({vm.id, std::string(cap), next.dump()}));
        described = capability->DescribeVm(ViewOf(vm), next);
        return Status::Ok();
      }));
  return described;
}

void VmManager::QueueExited(const std::string &id) {
  MutexLock lock(&exited_mu_);
  exited_.push_back(id);
  exited_cv_.Signal();
}

void VmManager::ExitWorker(std::stop_token stop) {
  while (true) {
    std::string id;
    {
      MutexLock lock(&exited_mu_);
      while (exited_.empty() && !closing_)
        exited_cv_.Wait(&exited_mu_);
      if (closing_)
        return; // what is left, Recover handles at the next start
      id = std::move(exited_.front());
      exited_.pop_front();
    }
    std::shared_ptr<VmLock> vm_lock = vm_locks_.For(id);
    if (!vm_lock->LockOrCancel("QEMU exited", LockWait{stop, nullptr}))
      return;
    VmLockHold hold(vm_lock.get());
    Result<VmRecord> vm = deps_.store->GetVm(id);
    // Gone (deleted: its caps were undone), or booted again meanwhile.
    if (!vm.ok() || IsLive(vm->state))
      continue;
    // Its QEMU is gone: so is the memory it held.
    budget_.Release(id);
    StopCaps(*vm);
  }
}

} // namespace warren
