// Typed access to the `vms` table (migrations 4 and 6). A VM's guest IP lease is the
// row's unique `ip` column, so deleting a VM releases its lease in the same
// statement.
#include <sqlite3.h>

#include "base/check.h"
#include "store/statement.h"
#include "store/store.h"

namespace warren {
namespace {

constexpr std::string_view kVmColumns =
    "id, name, image, cpus, memory_mib, disk_gib, state, step, ip, mac, tap, "
    "pid, created_ms, "
    "error, started_ms, snapshot";

VmRecord ReadVm(const Statement &st) {
  VmRecord vm;
  vm.id = st.ColumnText(0);
  vm.name = st.ColumnText(1);
  vm.image = st.ColumnText(2);
  vm.cpus = st.ColumnInt(3);
  vm.memory_mib = st.ColumnInt(4);
  vm.disk_gib = st.ColumnInt(5);
  // The schema's CHECK constraint admits only VmStateName's strings.
  CHECK(ParseVmState(st.ColumnText(6), &vm.state));
  vm.step = st.ColumnText(7);
  vm.ip = st.ColumnText(8);
  vm.mac = st.ColumnText(9);
  vm.tap = st.ColumnText(10);
  vm.pid = st.ColumnInt(11);
  vm.created_ms = st.ColumnInt(12);
  vm.error = st.ColumnText(13);
  vm.started_ms = st.ColumnInt(14);
  vm.snapshot = st.ColumnText(15);
  return vm;
}

// Binds every column but id, in kVmColumns order starting at index `first`.
void BindVmFields(Statement &st, const VmRecord &vm, int first) {
  st.Bind(first, vm.name)
      .Bind(first + 1, vm.image)
      .Bind(first + 2, vm.cpus)
      .Bind(first + 3, vm.memory_mib)
      .Bind(first + 4, vm.disk_gib)
      .Bind(first + 5, VmStateName(vm.state))
      .Bind(first + 6, vm.step)
      .Bind(first + 7, vm.ip)
      .Bind(first + 8, vm.mac)
      .Bind(first + 9, vm.tap)
      .Bind(first + 10, vm.pid)
      .Bind(first + 11, vm.created_ms)
      .Bind(first + 12, vm.error)
      .Bind(first + 13, vm.started_ms)
      .Bind(first + 14, vm.snapshot);
}

Status VmNotFound(std::string_view what) {
  return NotFound("VM \"" + std::string(what) +
                  "\" does not exist; see `warren vm ls`");
}

} // namespace

std::string_view VmStateName(VmState state) {
  switch (state) {
  case VmState::kCreating: return "creating";
  case VmState::kStarting: return "starting";
  case VmState::kRunning: return "running";
  case VmState::kStopping: return "stopping";
  case VmState::kStopped: return "stopped";
  case VmState::kFailed: return "failed";
  }
  return "failed"; // unreachable: every enumerator is named above
}

bool ParseVmState(std::string_view text, VmState *state) {
  for (VmState s : {VmState::kCreating, VmState::kStarting, VmState::kRunning,
                    VmState::kStopping, VmState::kStopped, VmState::kFailed}) {
    if (VmStateName(s) == text) {
      *state = s;
      return true;
    }
  }
  return false;
}

bool IsLive(VmState state) {
  return state == VmState::kStarting || state == VmState::kRunning ||
         state == VmState::kStopping;
}

Status Tx::InsertVm(const VmRecord &vm) {
  for (const std::string *key : {&vm.name, &vm.id}) {
    Result<VmRecord> existing = GetVm(*key);
    if (existing.ok())
      return AlreadyExists("VM \"" + vm.name + "\" already exists");
    if (existing.error().code() != Code::kNotFound)
      return existing.error();
  }
  ASSIGN_OR_RETURN(std::vector<std::string> ips, ListVmIps());
  for (const std::string &ip : ips) {
    if (ip == vm.ip)
      return AlreadyExists("guest IP " + vm.ip + " is already leased");
  }
  ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(db_, "INSERT INTO vms (" + std::string(kVmColumns) +
                                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                                  "?, ?, ?, ?, ?, ?, ?, ?)"));
  st.Bind(1, vm.id);
  BindVmFields(st, vm, 2);
  return st.Run().Annotate("store VM " + vm.name);
}

Status Tx::UpdateVm(const VmRecord &vm) {
  ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(
          db_, "UPDATE vms SET name = ?, image = ?, cpus = ?, "
               "memory_mib = ?, disk_gib = ?, state = ?, step = ?, ip = ?, "
               "mac = ?, tap = ?, pid = ?, created_ms = ?, error = ?, started_ms = ?, "
               "snapshot = ? WHERE id = ?"));
  BindVmFields(st, vm, 1);
  st.Bind(16, vm.id);
  RETURN_IF_ERROR(st.Run().Annotate("update VM " + vm.name));
  if (sqlite3_changes(db_) == 0)
    return VmNotFound(vm.id);
  return Status::Ok();
}

Result<VmRecord> Tx::GetVm(std::string_view id_or_name) {
  ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(db_, "SELECT " + std::string(kVmColumns) +
                                  " FROM vms WHERE id = ? OR name = ? "
                                  "ORDER BY (id = ?) DESC LIMIT 1"));
  st.Bind(1, id_or_name).Bind(2, id_or_name).Bind(3, id_or_name);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row)
    return VmNotFound(id_or_name);
  return ReadVm(st);
}

Result<std::vector<VmRecord>> Tx::ListVms() {
  ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(db_, "SELECT " + std::string(kVmColumns) +
                                  " FROM vms ORDER BY created_ms, name"));
  std::vector<VmRecord> vms;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row)
      return vms;
    vms.push_back(ReadVm(st));
  }
}

Status Tx::DeleteVm(std::string_view id) {
  // Explicit, not only the foreign key's cascade: the rows must go even from a
  // connection opened without PRAGMA foreign_keys.
  ASSIGN_OR_RETURN(Statement caps,
                   Statement::Prepare(db_, "DELETE FROM vm_caps WHERE vm_id = ?"));
  RETURN_IF_ERROR(caps.Bind(1, id).Run());
  ASSIGN_OR_RETURN(Statement st,
                   Statement::Prepare(db_, "DELETE FROM vms WHERE id = ?"));
  RETURN_IF_ERROR(st.Bind(1, id).Run());
  if (sqlite3_changes(db_) == 0)
    return VmNotFound(id);
  return Status::Ok();
}

Result<std::vector<std::string>> Tx::ListVmIps() {
  ASSIGN_OR_RETURN(Statement st,
                   Statement::Prepare(db_, "SELECT ip FROM vms ORDER BY ip"));
  std::vector<std::string> ips;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row)
      return ips;
    ips.push_back(st.ColumnText(0));
  }
}

Result<std::vector<VmRecord>> Store::ListVms() {
  std::vector<VmRecord> vms;
  RETURN_IF_ERROR(Transaction([&](Tx &tx) -> Status {
    ASSIGN_OR_RETURN(vms, tx.ListVms());
    return Status::Ok();
  }));
  return vms;
}

Result<VmRecord> Store::GetVm(std::string_view id_or_name) {
  VmRecord vm;
  RETURN_IF_ERROR(Transaction([&](Tx &tx) -> Status {
    ASSIGN_OR_RETURN(vm, tx.GetVm(id_or_name));
    return Status::Ok();
  }));
  return vm;
}

} // namespace warren
