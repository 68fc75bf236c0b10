#include "caps/egress.h"

#include <spdlog/spdlog.h>

namespace warren {
namespace {

Result<EgressPolicy> FromSettings(const nlohmann::json& settings) {
  if (settings.is_null()) return EgressPolicy{};  // never set: the default, all
  if (!settings.is_object() || !settings.contains("spec") || !settings["spec"].is_string()) {
    return Internal("stored egress settings are not {\"spec\": \"...\"}: " + settings.dump());
  }
  return ParseEgressSpec(settings["spec"].get<std::string>());
}

nlohmann::json ToSettings(const EgressPolicy& policy) {
  return nlohmann::json{{"spec", policy.Spec()}};
}

}  // namespace

Result<EgressPolicy> EgressCapability::Check(const nlohmann::json& request) const {
  if (!request.is_string()) {
    return InvalidArgument("egress must be a string: none, all, or ranges like 192.0.2.0/24");
  }
  ASSIGN_OR_RETURN(EgressPolicy policy, ParseEgressSpec(request.get<std::string>()));
  if (options_.mode == "host") {
    return FailedPrecondition(
        "egress cannot be limited in network.mode = \"host\": guests share the daemon's own "
        "network namespace, which warren does not filter; use network.mode = \"nat\"");
  }
  if (options_.mode == "isolated" && policy.kind != EgressPolicy::Kind::kNone) {
    return FailedPrecondition("egress \"" + policy.Spec() +
                              "\" needs network.mode = \"nat\": in \"isolated\" mode guests have "
                              "no way out, so only egress none is valid");
  }
  return policy;
}

Result<nlohmann::json> EgressCapability::Validate(const nlohmann::json& request,
                                                  const CreateRequest&) {
  ASSIGN_OR_RETURN(EgressPolicy policy, Check(request));
  return ToSettings(policy);
}

Status EgressCapability::Apply(const CapVm& vm, const EgressPolicy& policy) {
  if (options_.mode == "isolated") return Status::Ok();  // no way out to filter
  if (options_.mode != "nat") {
    if (policy.kind == EgressPolicy::Kind::kAll) return Status::Ok();
    return FailedPrecondition("VM \"" + vm.record.name + "\" has egress \"" + policy.Spec() +
                              "\", which cannot be enforced in network.mode = \"" +
                              options_.mode + "\"; use nat, or `warren vm egress " +
                              vm.record.name + " all`");
  }
  if (policy.kind == EgressPolicy::Kind::kAll) {
    return apply_(EgressRemoveScript(vm.record.id)).Annotate("egress of VM " + vm.record.name);
  }
  if (vm.record.tap.empty()) {
    return FailedPrecondition("VM \"" + vm.record.name + "\" has no TAP to apply egress to");
  }
  EgressTarget target{vm.record.id, vm.record.tap, vm.record.ip, options_.bridge,
                      options_.gateway};
  return apply_(EgressInstallScript(target, policy))
      .Annotate("egress \"" + policy.Spec() + "\" of VM " + vm.record.name);
}

void EgressCapability::Remove(const CapVm& vm) {
  if (options_.mode == "host") return;  // never installed any
  Status st = apply_(EgressRemoveScript(vm.record.id));
  // In isolated mode nftables may be missing altogether, and nothing was made.
  if (!st.ok() && options_.mode == "nat") {
    spdlog::error("vm {}: remove egress rules: {}", vm.record.name, st.ToString());
  }
}

Status EgressCapability::ContributeQemu(const CapVm& vm, const nlohmann::json& settings,
                                        VmSpec&) {
  ASSIGN_OR_RETURN(EgressPolicy policy, FromSettings(settings));
  return Apply(vm, policy);
}

Status EgressCapability::OnReady(const CapVm& vm, const nlohmann::json& settings) {
  ASSIGN_OR_RETURN(EgressPolicy policy, FromSettings(settings));
  return Apply(vm, policy);
}

void EgressCapability::OnStop(const CapVm& vm, const nlohmann::json&) { Remove(vm); }

void EgressCapability::OnDelete(const CapVm& vm, const nlohmann::json&) { Remove(vm); }

Result<nlohmann::json> EgressCapability::Change(const CapVm& vm, const nlohmann::json&,
                                                const nlohmann::json& change, bool running) {
  ASSIGN_OR_RETURN(EgressPolicy policy, Check(change));
  if (running) RETURN_IF_ERROR(Apply(vm, policy));
  return ToSettings(policy);
}

nlohmann::json EgressCapability::Describe(const nlohmann::json& settings) const {
  Result<EgressPolicy> policy = FromSettings(settings);
  if (!policy.ok()) return settings;
  return policy->Spec();
}

}  // namespace warren
