#include "caps/user_data.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "caps/yaml_json.h"
#include "sys/files.h"
#include "vm/vm_manager.h"

namespace warren {
namespace {

constexpr std::string_view kResultFile = "user-data.result.json";
constexpr size_t kOutputTail = 16 << 10;

// Guest side, shared with run-user-data and the seed's runcmd.
const std::string kScriptDone =
    "test -f /var/lib/warren/user-data.status && cat /var/lib/warren/user-data.status";
const std::string kScriptOutput = "tail -c 16384 /var/log/warren-user-data.log";
const std::string kCloudDone = "test -f /var/lib/cloud/instance/boot-finished";
const std::string kCloudStatus = "cloud-init status --long";

bool IsScript(const std::string& text) { return text.rfind("#!", 0) == 0; }
bool IsCloudConfig(const std::string& text) {
  return text.rfind("#cloud-config", 0) == 0 &&
         (text.size() == 13 || text[13] == '\n' || text[13] == '\r' || text[13] == ' ');
}

Result<std::string> HostKey(const CapVm& vm) {
  ASSIGN_OR_RETURN(std::string key, ReadFileToString(vm.dir / "host_key.pub"));
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  return key;
}

}  // namespace

UserDataCapability::UserDataCapability(ImageFactsLookup facts, GuestDialer* dialer,
                                       std::string client_private_key,
                                       std::chrono::milliseconds wait,
                                       std::chrono::milliseconds poll)
    : facts_(std::move(facts)),
      dialer_(dialer),
      client_private_key_(std::move(client_private_key)),
      wait_(wait),
      poll_(poll) {}

Result<nlohmann::json> UserDataCapability::Validate(const nlohmann::json& request,
                                                    const CreateRequest& create) {
  if (!request.is_string()) return InvalidArgument("user_data: expected the file's text");
  const std::string& text = request.get_ref<const std::string&>();
  if (text.size() > kMaxBytes) {
    return InvalidArgument("user_data: larger than " + std::to_string(kMaxBytes >> 10) + " KiB");
  }
  if (IsScript(text)) return nlohmann::json{{"kind", "script"}, {"script", text}};
  if (!IsCloudConfig(text)) {
    return InvalidArgument(
        "user_data: must start with \"#!\" (a script) or \"#cloud-config\" (a cloud-init "
        "document)");
  }
  ASSIGN_OR_RETURN(nlohmann::json facts, facts_(create.image));
  if (!facts.is_object() || facts.value("cloud_init", false) != true) {
    return FailedPrecondition(
        "user_data: image \"" + create.image +
        "\" has no cloud-init, so it cannot apply a #cloud-config; give a #! script instead, "
        "or use an image that has cloud-init (`warren image register --cloud-init ...`)");
  }
  ASSIGN_OR_RETURN(nlohmann::json config, YamlToJson(text));
  if (config.is_null()) config = nlohmann::json::object();
  if (!config.is_object()) {
    return InvalidArgument("user_data: a #cloud-config must be a mapping at its top level");
  }
  return nlohmann::json{{"kind", "cloud-config"}, {"config", config}};
}

Status UserDataCapability::ContributeSeed(const CapVm&, const nlohmann::json& settings,
                                          SeedSpec& seed) {
  if (settings.value("kind", "") == "script") {
    seed.user_data = settings.at("script").get<std::string>();
  } else {
    seed.cloud_config = settings.at("config");
  }
  return Status::Ok();
}

Result<GuestConnection::ExecResult> UserDataCapability::Run(GuestConnection& conn,
                                                            const std::string& command) {
  return conn.Exec({"sh", "-c", command}, "", {});
}

Status UserDataCapability::OnReady(const CapVm& vm, const nlohmann::json& settings) {
  std::error_code ec;
  if (std::filesystem::exists(vm.dir / kResultFile, ec)) return Status::Ok();  // first boot only
  const bool script = settings.value("kind", "") == "script";
  ASSIGN_OR_RETURN(std::string host_key, HostKey(vm));
  GuestEndpoint ep{vm.record.ip, 22, "root", host_key, client_private_key_};
  ASSIGN_OR_RETURN(std::unique_ptr<GuestConnection> conn,
                   dialer_->Dial(ep, std::chrono::seconds(10)));
  // The guest runs it after SSH is up: wait for its end, bounded. A script
  // still running then is reported as pending, not as a failed boot.
  const auto deadline = std::chrono::steady_clock::now() + wait_;
  Result<GuestConnection::ExecResult> done = Run(*conn, script ? kScriptDone : kCloudDone);
  while (done.ok() && done->exit_code != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(poll_);
    done = Run(*conn, script ? kScriptDone : kCloudDone);
  }
  RETURN_IF_ERROR(done.status().Annotate("user_data: reading its status in " + vm.record.name));
  if (done->exit_code != 0) {
    spdlog::warn("vm {}: user-data still running after {} s; `vm inspect` shows it once done",
                 vm.record.name, std::chrono::duration_cast<std::chrono::seconds>(wait_).count());
    return Status::Ok();
  }
  nlohmann::json result = {{"kind", script ? "script" : "cloud-config"}, {"state", "done"}};
  if (script) {
    result["exit_status"] = std::atoi(done->out.c_str());
    ASSIGN_OR_RETURN(GuestConnection::ExecResult out, Run(*conn, kScriptOutput));
    result["output"] = out.out;
  } else {
    ASSIGN_OR_RETURN(GuestConnection::ExecResult st, Run(*conn, kCloudStatus));
    result["exit_status"] = st.exit_code;
    result["output"] = st.out.size() > kOutputTail ? st.out.substr(st.out.size() - kOutputTail)
                                                   : st.out;
  }
  spdlog::info("vm {}: user-data ({}) exited {}", vm.record.name, result["kind"].get<std::string>(),
               result["exit_status"].get<int>());
  return WriteFileAtomically(vm.dir / kResultFile, result.dump() + "\n");
}

nlohmann::json UserDataCapability::Describe(const nlohmann::json& settings) const {
  return {{"kind", settings.value("kind", "")}, {"state", "pending"}};
}

nlohmann::json UserDataCapability::DescribeVm(const CapVm& vm,
                                              const nlohmann::json& settings) const {
  Result<std::string> text = ReadFileToString(vm.dir / kResultFile);
  if (!text.ok()) return Describe(settings);
  nlohmann::json result = nlohmann::json::parse(*text, nullptr, false);
  return result.is_discarded() ? Describe(settings) : result;
}

}  // namespace warren
