#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace warren {

// Internal to src/store: one prepared SQLite statement, finalized on destruction.
// Binds use 1-based indices and chain; a bind error is kept and reported by the
// next Step/Run, so call sites stay linear. Not thread-safe (callers hold the
// Store lock).
class Statement {
 public:
  static Result<Statement> Prepare(sqlite3* db, std::string_view sql);
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, double value);

  // Advances one row: true when a row is available, false when done.
  Result<bool> Step();
  // Steps to completion, ignoring any rows.
  Status Run();

  int64_t ColumnInt(int index) const;  // 0-based, like sqlite3_column_*
  double ColumnDouble(int index) const;
  std::string ColumnText(int index) const;

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement& Check(int rc, int index);

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  Status bind_error_;
};

// "what: <sqlite message>" as Internal, or Unavailable when the database is busy.
Status SqliteError(sqlite3* db, int rc, std::string_view what);

}  // namespace warren
