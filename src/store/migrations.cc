#include "store/migrations.h"

namespace warren {
namespace {

// Append-only. To change the schema add one row with the next version; never edit
// a shipped row (databases in the field already ran it). Each row runs in one
// transaction together with its schema_migrations record.
constexpr Migration kMigrations[] = {
    {1, "ops table",
     R"sql(
CREATE TABLE ops (
  id          TEXT PRIMARY KEY,
  kind        TEXT NOT NULL,
  target      TEXT NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled')),
  step        TEXT NOT NULL DEFAULT '',
  fraction    REAL NOT NULL DEFAULT 0,
  started_ms  INTEGER NOT NULL,
  ended_ms    INTEGER NOT NULL DEFAULT 0,
  error       TEXT NOT NULL DEFAULT '',
  result_json TEXT NOT NULL DEFAULT 'null'
);
)sql"},
    {2, "index ops by state and start time",
     R"sql(
CREATE INDEX ops_by_state ON ops (state);
CREATE INDEX ops_by_start ON ops (started_ms, id);
)sql"},
    {3, "images table",
     R"sql(
CREATE TABLE images (
  name          TEXT PRIMARY KEY,
  created_ms    INTEGER NOT NULL,
  manifest_json TEXT NOT NULL,
  state         TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'missing'))
);
)sql"},
    {4, "vms table (a VM's guest IP lease is its unique ip column)",
     R"sql(
CREATE TABLE vms (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  image       TEXT NOT NULL,
  cpus        INTEGER NOT NULL,
  memory_mib  INTEGER NOT NULL,
  disk_gib    INTEGER NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('creating', 'starting', 'running', 'stopping',
                                             'stopped', 'failed')),
  step        TEXT NOT NULL DEFAULT '',
  ip          TEXT NOT NULL UNIQUE,
  mac         TEXT NOT NULL,
  tap         TEXT NOT NULL DEFAULT '',
  pid         INTEGER NOT NULL DEFAULT 0,
  created_ms  INTEGER NOT NULL,
  error       TEXT NOT NULL DEFAULT ''
);
)sql"},
    {5, "vm_caps table (a VM's capability settings, deleted with the VM)",
     R"sql(
CREATE TABLE vm_caps (
  vm_id         TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
  cap           TEXT NOT NULL,
  settings_json TEXT NOT NULL,
  PRIMARY KEY (vm_id, cap)
);
)sql"},
    {6, "vms.started_ms: when the VM was last (re)started, kept for adopted VMs",
     R"sql(
ALTER TABLE vms ADD COLUMN started_ms INTEGER NOT NULL DEFAULT 0;
)sql"},
    {7, "snapshots table (a VM's memory, devices and disk at one instant; see docs/SNAPSHOTS.md)",
     R"sql(
CREATE TABLE snapshots (
  name        TEXT PRIMARY KEY,
  vm_id       TEXT NOT NULL,
  vm_name     TEXT NOT NULL,
  image       TEXT NOT NULL,
  cpus        INTEGER NOT NULL,
  memory_mib  INTEGER NOT NULL,
  disk_gib    INTEGER NOT NULL,
  mac         TEXT NOT NULL,
  ip          TEXT NOT NULL,
  files_json  TEXT NOT NULL,
  size_bytes  INTEGER NOT NULL,
  created_ms  INTEGER NOT NULL
);
ALTER TABLE vms ADD COLUMN snapshot TEXT NOT NULL DEFAULT '';
)sql"},
    {8, "snapshots.agent (the guest answered warren's agent: clones need it) and .parent (a "
        "clone's snapshot: whose disk its disk is backed by)",
     R"sql(
ALTER TABLE snapshots ADD COLUMN agent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN parent TEXT NOT NULL DEFAULT '';
)sql"},
};

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

}  // namespace warren
