#include "store/store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "store/statement.h"

namespace warren {
namespace {

constexpr int kBusyTimeoutMs = 5000;

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

Status Exec(sqlite3* db, std::string_view sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, std::string(sql).c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string message = err ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return SqliteError(nullptr, rc, message).Annotate("sql");
}

// The single-value result of a PRAGMA or query.
Result<std::string> QueryText(sqlite3* db, std::string_view sql) {
  ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, sql));
  ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.ColumnText(0) : std::string();
}

// 0 for a database without schema_migrations (new or not warren's yet).
Result<int> ReadVersion(sqlite3* db) {
  ASSIGN_OR_RETURN(std::string has_table,
                   QueryText(db,
                             "SELECT name FROM sqlite_master WHERE type = 'table' AND "
                             "name = 'schema_migrations'"));
  if (has_table.empty()) return 0;
  ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? static_cast<int>(st.ColumnInt(0)) : 0;
}

// Applies `m` unless another process already did, all in one transaction.
Status ApplyMigration(sqlite3* db, const Migration& m) {
  RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE"));
  Status st = [&]() -> Status {
    RETURN_IF_ERROR(Exec(db,
                         "CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                         "applied_ms INTEGER NOT NULL)"));
    ASSIGN_OR_RETURN(int current, ReadVersion(db));
    if (current >= m.version) return Status::Ok();
    RETURN_IF_ERROR(Exec(db, m.sql));
    ASSIGN_OR_RETURN(Statement ins,
                     Statement::Prepare(db,
                                        "INSERT INTO schema_migrations VALUES "
                                        "(?, ?, CAST(strftime('%s', 'now') AS INTEGER) * 1000)"));
    return ins.Bind(1, int64_t{m.version}).Bind(2, m.description).Run();
  }();
  if (!st.ok()) {
    (void)Exec(db, "ROLLBACK");
    return st.Annotate("migration " + std::to_string(m.version) + " (" + m.description + ")");
  }
  return Exec(db, "COMMIT");
}

constexpr std::string_view kOpColumns =
    "id, kind, target, state, step, fraction, started_ms, ended_ms, error, result_json";

OpRecord ReadOp(const Statement& st) {
  return OpRecord{st.ColumnText(0), st.ColumnText(1),   st.ColumnText(2), st.ColumnText(3),
                  st.ColumnText(4), st.ColumnDouble(5), st.ColumnInt(6),  st.ColumnInt(7),
                  st.ColumnText(8), st.ColumnText(9)};
}

Status NewerSchemaError(std::string_view name, int version, int latest) {
  return FailedPrecondition("store " + std::string(name) + " has schema version " +
                            std::to_string(version) + " but this warren understands up to " +
                            std::to_string(latest) +
                            "; upgrade warren (the store was not modified)");
}

// Runs PRAGMA integrity_check on `db`.
Result<std::string> RunIntegrityCheck(sqlite3* db) {
  ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, "PRAGMA integrity_check"));
  std::string report;
  while (true) {
    Result<bool> row = st.Step();
    // Damage bad enough to stop the check (SQLITE_CORRUPT) is itself the finding;
    // only a busy database is an error to retry.
    if (!row.ok() && row.error().code() == Code::kUnavailable) return row.error();
    if (!row.ok()) return report + (report.empty() ? "" : "\n") + row.error().message();
    if (!*row) return report;
    report += (report.empty() ? "" : "\n") + st.ColumnText(0);
  }
}

}  // namespace

// ---- Tx ----

Status Tx::Exec(std::string_view sql) { return warren::Exec(db_, sql); }

Status Tx::PutOp(const OpRecord& op) {
  ASSIGN_OR_RETURN(Statement st,
                   Statement::Prepare(db_, "INSERT INTO ops (" + std::string(kOpColumns) +
                                               ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                                               "ON CONFLICT (id) DO UPDATE SET kind = "
                                               "excluded.kind, target = excluded.target, "
                                               "state = excluded.state, step = excluded.step, "
                                               "fraction = excluded.fraction, started_ms = "
                                               "excluded.started_ms, ended_ms = "
                                               "excluded.ended_ms, error = excluded.error, "
                                               "result_json = excluded.result_json"));
  return st.Bind(1, op.id)
      .Bind(2, op.kind)
      .Bind(3, op.target)
      .Bind(4, op.state)
      .Bind(5, op.step)
      .Bind(6, op.fraction)
      .Bind(7, op.started_ms)
      .Bind(8, op.ended_ms)
      .Bind(9, op.error)
      .Bind(10, op.result_json)
      .Run()
      .Annotate("store op " + op.id);
}

Result<std::vector<OpRecord>> Tx::ListOps() {
  ASSIGN_OR_RETURN(Statement st,
                   Statement::Prepare(db_, "SELECT " + std::string(kOpColumns) +
                                               " FROM ops ORDER BY started_ms, rowid"));
  std::vector<OpRecord> ops;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return ops;
    ops.push_back(ReadOp(st));
  }
}

Result<OpRecord> Tx::GetOp(std::string_view id) {
  ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, "SELECT " + std::string(kOpColumns) +
                                                             " FROM ops WHERE id = ?"));
  st.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("op \"" + std::string(id) + "\" is not in the store");
  return ReadOp(st);
}

Status Tx::MarkInterruptedOps(std::string_view error, int64_t ended_ms) {
  ASSIGN_OR_RETURN(Statement st,
                   Statement::Prepare(db_,
                                      "UPDATE ops SET state = 'failed', error = ?, ended_ms = ? "
                                      "WHERE state = 'running'"));
  return st.Bind(1, error).Bind(2, ended_ms).Run();
}

// ---- Store ----

Store::Store(sqlite3* db, std::string name, int version)
    : name_(std::move(name)), version_(version), db_(db) {}

Store::~Store() { sqlite3_close_v2(db_); }

Result<std::unique_ptr<Store>> Store::Open(const std::filesystem::path& db_file) {
  return OpenImpl(db_file, Migrations());
}

Result<std::unique_ptr<Store>> Store::OpenWithMigrationsForTest(
    const std::filesystem::path& db_file, std::span<const Migration> migrations) {
  return OpenImpl(db_file, migrations);
}

Result<std::string> Store::CheckFile(const std::filesystem::path& db_file) {
  std::error_code ec;
  if (!std::filesystem::exists(db_file, ec)) {
    return NotFound("store " + db_file.string() + " does not exist");
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(db_file.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) return SqliteError(raw, rc, "open store " + db_file.string());
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  Result<int> version = ReadVersion(db.get());
  if (!version.ok()) return version.error().Annotate("store " + db_file.string());
  if (*version > LatestSchemaVersion()) {
    return NewerSchemaError(db_file.filename().string(), *version, LatestSchemaVersion());
  }
  return RunIntegrityCheck(db.get());
}

int Store::LatestSchemaVersion() { return Migrations().back().version; }

Result<std::unique_ptr<Store>> Store::OpenImpl(const std::filesystem::path& db_file,
                                               std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    CHECK(migrations[i].version == static_cast<int>(i) + 1);  // append-only, no gaps
  }
  const std::string name = db_file.filename().string();
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(db_file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  DbPtr db(raw);  // closes on every early return, even when open failed
  if (rc != SQLITE_OK) return SqliteError(raw, rc, "open store " + db_file.string());
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);

  // Read before writing anything: a newer schema must leave the file untouched.
  Result<int> version = ReadVersion(db.get());
  if (!version.ok()) return version.error().Annotate("store " + db_file.string());
  if (*version > latest) return NewerSchemaError(name, *version, latest);

  ASSIGN_OR_RETURN(std::string mode, QueryText(db.get(), "PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return Internal("store " + db_file.string() + ": cannot enable WAL (journal_mode " + mode +
                    ")");
  }
  RETURN_IF_ERROR(Exec(db.get(), "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL"));

  for (const Migration& m : migrations) {
    if (m.version <= *version) continue;
    Status st = ApplyMigration(db.get(), m);
    if (!st.ok()) return st.Annotate("store " + db_file.string());
    spdlog::info("store {}: applied migration {} ({})", name, m.version, m.description);
  }
  return std::unique_ptr<Store>(new Store(db.release(), name, latest));
}

int Store::SchemaVersion() const { return version_; }

Status Store::Transaction(const std::function<Status(Tx&)>& fn) {
  MutexLock lock(&mu_);
  RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE").Annotate("store " + name_));
  Tx tx(db_);
  Status st = fn(tx);
  if (st.ok()) {
    st = Exec(db_, "COMMIT");
    if (st.ok()) return st;
    st = st.Annotate("store " + name_ + ": commit");
  }
  // After a failed COMMIT SQLite may already have rolled back; ignore that error.
  (void)Exec(db_, "ROLLBACK");
  return st;
}

Result<std::string> Store::IntegrityCheck() {
  MutexLock lock(&mu_);
  return RunIntegrityCheck(db_);
}

Result<std::string> Store::JournalMode() {
  MutexLock lock(&mu_);
  return QueryText(db_, "PRAGMA journal_mode");
}

Status Store::PutOp(const OpRecord& op) {
  return Transaction([&](Tx& tx) { return tx.PutOp(op); });
}

Result<std::vector<OpRecord>> Store::ListOps() {
  std::vector<OpRecord> ops;
  RETURN_IF_ERROR(Transaction([&](Tx& tx) -> Status {
    ASSIGN_OR_RETURN(ops, tx.ListOps());
    return Status::Ok();
  }));
  return ops;
}

Result<OpRecord> Store::GetOp(std::string_view id) {
  OpRecord op;
  RETURN_IF_ERROR(Transaction([&](Tx& tx) -> Status {
    ASSIGN_OR_RETURN(op, tx.GetOp(id));
    return Status::Ok();
  }));
  return op;
}

Status Store::MarkInterruptedOps(std::string_view error, int64_t ended_ms) {
  return Transaction([&](Tx& tx) { return tx.MarkInterruptedOps(error, ended_ms); });
}

}  // namespace warren
