// Typed access to the `snapshots` table (migration 7).
#include <sqlite3.h>

#include "store/statement.h"
#include "store/store.h"

namespace warren {
namespace {

constexpr std::string_view kSnapshotColumns =
    "name, vm_id, vm_name, image, cpus, memory_mib, disk_gib, mac, ip, files_json, size_bytes, "
    "created_ms, agent, parent";

SnapshotRecord ReadSnapshot(const Statement& st) {
  SnapshotRecord s;
  s.name = st.ColumnText(0);
  s.vm_id = st.ColumnText(1);
  s.vm_name = st.ColumnText(2);
  s.image = st.ColumnText(3);
  s.cpus = st.ColumnInt(4);
  s.memory_mib = st.ColumnInt(5);
  s.disk_gib = st.ColumnInt(6);
  s.mac = st.ColumnText(7);
  s.ip = st.ColumnText(8);
  s.files_json = st.ColumnText(9);
  s.size_bytes = st.ColumnInt(10);
  s.created_ms = st.ColumnInt(11);
  s.agent = st.ColumnInt(12) != 0;
  s.parent = st.ColumnText(13);
  return s;
}

Status SnapshotNotFound(std::string_view name) {
  return NotFound("snapshot \"" + std::string(name) +
                  "\" does not exist; see `warren snapshot ls`");
}

}  // namespace

Status Tx::InsertSnapshot(const SnapshotRecord& s) {
  Result<SnapshotRecord> existing = GetSnapshot(s.name);
  if (existing.ok()) return AlreadyExists("snapshot \"" + s.name + "\" already exists");
  if (existing.error().code() != Code::kNotFound) return existing.error();
  ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, "INSERT INTO snapshots (" +
                                                             std::string(kSnapshotColumns) +
                                                             ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                                                             "?, ?, ?, ?, ?, ?)"));
  return st.Bind(1, s.name)
      .Bind(2, s.vm_id)
      .Bind(3, s.vm_name)
      .Bind(4, s.image)
      .Bind(5, s.cpus)
      .Bind(6, s.memory_mib)
      .Bind(7, s.disk_gib)
      .Bind(8, s.mac)
      .Bind(9, s.ip)
      .Bind(10, s.files_json)
      .Bind(11, s.size_bytes)
      .Bind(12, s.created_ms)
      .Bind(13, int64_t{s.agent})
      .Bind(14, s.parent)
      .Run()
      .Annotate("store snapshot " + s.name);
}

Result<SnapshotRecord> Tx::GetSnapshot(std::string_view name) {
  ASSIGN_OR_RETURN(Statement st,
                   Statement::Prepare(db_, "SELECT " + std::string(kSnapshotColumns) +
                                               " FROM snapshots WHERE name = ?"));
  st.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return SnapshotNotFound(name);
  return ReadSnapshot(st);
}

Result<std::vector<SnapshotRecord>> Tx::ListSnapshots() {
  ASSIGN_OR_RETURN(Statement st,
                   Statement::Prepare(db_, "SELECT " + std::string(kSnapshotColumns) +
                                               " FROM snapshots ORDER BY created_ms, name"));
  std::vector<SnapshotRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    out.push_back(ReadSnapshot(st));
  }
}

Status Tx::DeleteSnapshot(std::string_view name) {
  ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, "DELETE FROM snapshots WHERE name = ?"));
  RETURN_IF_ERROR(st.Bind(1, name).Run());
  if (sqlite3_changes(db_) == 0) return SnapshotNotFound(name);
  return Status::Ok();
}

Result<std::vector<SnapshotRecord>> Store::ListSnapshots() {
  std::vector<SnapshotRecord> out;
  RETURN_IF_ERROR(Transaction([&](Tx& tx) -> Status {
    ASSIGN_OR_RETURN(out, tx.ListSnapshots());
    return Status::Ok();
  }));
  return out;
}

Result<SnapshotRecord> Store::GetSnapshot(std::string_view name) {
  SnapshotRecord out;
  RETURN_IF_ERROR(Transaction([&](Tx& tx) -> Status {
    ASSIGN_OR_RETURN(out, tx.GetSnapshot(name));
    return Status::Ok();
  }));
  return out;
}

}  // namespace warren
