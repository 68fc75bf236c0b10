#include "vm/qemu/migration.h"

#include <thread>

namespace warren {
namespace {

using json = nlohmann::json;
constexpr std::string_view kFdName = "warren-state";
constexpr auto kPollEvery = std::chrono::milliseconds(10);

// Polls query-migrate until "completed"; FailedPrecondition with QEMU's reason
// for "failed"/"cancelled", DeadlineExceeded after `timeout`.
Status WaitMigration(QmpClient& qmp, std::chrono::milliseconds timeout,
                     const std::function<void(double)>& progress) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    ASSIGN_OR_RETURN(json r, qmp.Execute("query-migrate"));
    const std::string status = r.is_object() ? r.value("status", std::string()) : "";
    if (status == "completed") return Status::Ok();
    if (status == "failed" || status == "cancelled") {
      return FailedPrecondition("QEMU migration " + status + ": " +
                                r.value("error-desc", std::string("(no reason given)")));
    }
    if (progress && r.contains("ram") && r["ram"].is_object()) {
      const double total = r["ram"].value("total", 0.0);
      if (total > 0) progress(r["ram"].value("transferred", 0.0) / total);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceeded("QEMU migration still \"" + status + "\" after " +
                              std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(kPollEvery);
  }
}

Status PassFd(QmpClient& qmp, int fd) {
  // A stale descriptor of an earlier, failed attempt would make getfd replace
  // it anyway; closefd first keeps QEMU's table tidy (its error is harmless).
  (void)qmp.Execute("closefd", {{"fdname", kFdName}});
  return qmp.ExecuteWithFd("getfd", {{"fdname", kFdName}}, fd).status();
}

Status SetRamCapability(QmpClient& qmp, GuestRam ram) {
  json cap = {{"capability", "x-ignore-shared"}, {"state", ram == GuestRam::kApart}};
  return qmp.Execute("migrate-set-capabilities", {{"capabilities", json::array({cap})}}).status();
}

}  // namespace

Status SaveStateToFd(QmpClient& qmp, int fd, GuestRam ram, std::chrono::milliseconds timeout,
                     const std::function<void(double)>& progress) {
  ASSIGN_OR_RETURN(QmpStatus before, qmp.QueryStatus());
  RETURN_IF_ERROR(qmp.Execute("stop").status());
  auto fail = [&](Status st) {
    if (before.running) (void)qmp.Execute("cont");
    return st.Annotate("save VM state");
  };
  // QEMU 7.2 throttles migration to 32 MiB/s by default (meant for links
  // between hosts); a local file takes whatever the disk gives.
  Status st = qmp.Execute("migrate-set-parameters", {{"max-bandwidth", int64_t{1} << 40}})
                  .status();
  if (st.ok()) st = SetRamCapability(qmp, ram);
  if (st.ok()) st = PassFd(qmp, fd);
  if (st.ok()) st = qmp.Execute("migrate", {{"uri", "fd:" + std::string(kFdName)}}).status();
  if (st.ok()) st = WaitMigration(qmp, timeout, progress);
  if (!st.ok()) return fail(st);
  return Status::Ok();
}

Status LoadStateFromFd(QmpClient& qmp, int fd, GuestRam ram, std::chrono::milliseconds timeout) {
  RETURN_IF_ERROR(SetRamCapability(qmp, ram).Annotate("load VM state"));
  RETURN_IF_ERROR(PassFd(qmp, fd).Annotate("load VM state"));
  RETURN_IF_ERROR(qmp.Execute("migrate-incoming", {{"uri", "fd:" + std::string(kFdName)}})
                      .status()
                      .Annotate("load VM state"));
  return WaitMigration(qmp, timeout, nullptr).Annotate("load VM state");
}

Status ResumeGuest(QmpClient& qmp) { return qmp.Execute("cont").status().Annotate("resume guest"); }

}  // namespace warren
