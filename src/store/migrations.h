#pragma once

#include <span>

namespace warren {

// One schema step. Versions start at 1 and increase by exactly 1 in list order.
// `sql` may hold several statements; it runs in the same transaction that records
// the version in schema_migrations, so a migration applies entirely or not at all.
struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Every migration this binary knows, oldest first. Append-only: never edit a row
// that has shipped; add a new one (see migrations.cc).
std::span<const Migration> Migrations();

}  // namespace warren
