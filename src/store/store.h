#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "store/migrations.h"

struct sqlite3;

namespace warren {

class Statement;

// A persisted long operation (see ops/op_registry.h). `state` is one of
// "running", "succeeded", "failed", "cancelled"; `result_json` is serialized JSON.
struct OpRecord {
  std::string id;
  std::string kind;
  std::string target;
  std::string state;
  std::string step;
  double fraction = 0;
  int64_t started_ms = 0;
  int64_t ended_ms = 0;
  std::string error;
  std::string result_json = "null";

  bool operator==(const OpRecord&) const = default;
};

// A registered image (see image/registry.h). `state` is "ready", or "missing" when
// the daemon found the record without its directory at start.
struct ImageRecord {
  std::string name;
  int64_t created_ms = 0;
  std::string manifest_json = "{}";
  std::string state = "ready";

  bool operator==(const ImageRecord&) const = default;
};

// A VM's lifecycle phase (see vm/vm_manager.h for the transitions). The store
// and JSON spell it VmStateName's way; those strings are the stable ones.
enum class VmState { kCreating, kStarting, kRunning, kStopping, kStopped, kFailed };
// "creating", "starting", "running", "stopping", "stopped", "failed".
std::string_view VmStateName(VmState state);
// The inverse of VmStateName; false for any other text.
bool ParseVmState(std::string_view text, VmState* state);
// Starting, running or stopping: a QEMU process may exist for it.
bool IsLive(VmState state);

// A VM (see vm/vm_manager.h). `step` is the last create step done (for
// rollback after a crash). `ip` is the VM's guest IP lease: unique, released
// with the row. `tap` is the TAP it holds ("" when none), `pid` its QEMU (0 = none).
struct VmRecord {
  std::string id;
  std::string name;
  std::string image;
  int64_t cpus = 1;
  int64_t memory_mib = 512;
  int64_t disk_gib = 4;
  VmState state = VmState::kCreating;
  std::string step;
  std::string ip;
  std::string mac;
  std::string tap;
  int64_t pid = 0;
  int64_t created_ms = 0;
  std::string error;
  // When QEMU was last launched (unix ms); 0 while the VM is not running.
  int64_t started_ms = 0;
  // The snapshot whose frozen disk backs this VM's overlay ("" = its image's).
  std::string snapshot;

  bool operator==(const VmRecord&) const = default;
};

// What a VM asked of one capability (see vm/capability.h): its stored settings,
// serialized JSON. One row per VM and capability, deleted with the VM.
struct VmCapRecord {
  std::string vm_id;
  std::string cap;
  std::string settings_json = "null";

  bool operator==(const VmCapRecord&) const = default;
};

// A VM's memory, device state and disk at one instant (see vm/snapshots.h). The
// source VM's shape (cpus, memory, MAC, IP) is kept because the saved device
// state only loads into a QEMU of the same shape. `files_json` maps each file
// of the snapshot's directory to its size.
struct SnapshotRecord {
  std::string name;
  std::string vm_id;
  std::string vm_name;
  std::string image;
  int64_t cpus = 1;
  int64_t memory_mib = 512;
  int64_t disk_gib = 4;
  std::string mac;
  std::string ip;
  std::string files_json = "{}";
  int64_t size_bytes = 0;
  int64_t created_ms = 0;
  // The guest's agent answered when the snapshot was taken, so a clone of it
  // can be given its own identity (`vm create --from`).
  bool agent = false;
  // A snapshot of a clone: the snapshot its disk's copy is backed by (which
  // cannot be deleted while this one exists). "" = backed by the image.
  std::string parent;

  bool operator==(const SnapshotRecord&) const = default;
};

// The work done inside Store::Transaction. Only valid during the callback, on the
// calling thread. Typed record helpers live here so a multi-row change is one
// transaction: Store's own one-row methods are thin wrappers around these.
class Tx {
 public:
  // Runs SQL text (one or more statements, no parameters).
  Status Exec(std::string_view sql);
  Status PutOp(const OpRecord& op);
  Result<std::vector<OpRecord>> ListOps();
  Result<OpRecord> GetOp(std::string_view id);
  Status MarkInterruptedOps(std::string_view error, int64_t ended_ms);
  // AlreadyExists names the image when `image.name` is taken.
  Status InsertImage(const ImageRecord& image);
  // Oldest first (by created_ms, then name).
  Result<std::vector<ImageRecord>> ListImages();
  // NotFound names the image.
  Result<ImageRecord> GetImage(std::string_view name);
  // NotFound names the image.
  Status DeleteImage(std::string_view name);
  Status SetImageState(std::string_view name, std::string_view state);
  // VMs (vm_records.cc). AlreadyExists names the VM when its name (or id) is taken,
  // or the IP when it is leased to another VM.
  Status InsertVm(const VmRecord& vm);
  // Replaces every field of the VM with `vm.id`. NotFound names the id.
  Status UpdateVm(const VmRecord& vm);
  // By id or name. NotFound names the VM and suggests `warren vm ls`.
  Result<VmRecord> GetVm(std::string_view id_or_name);
  // Oldest first (by created_ms, then name).
  Result<std::vector<VmRecord>> ListVms();
  // Deletes the row, and with it the VM's IP lease and capability rows.
  // NotFound names the id.
  Status DeleteVm(std::string_view id);
  // Capability settings (vm_caps.cc). Put inserts or replaces the row of
  // (vm_id, cap); NotFound when the VM does not exist.
  Status PutVmCap(const VmCapRecord& cap);
  // The VM's rows, by capability name; empty for a VM without any (or none).
  Result<std::vector<VmCapRecord>> ListVmCaps(std::string_view vm_id);
  // Every leased guest IP.
  Result<std::vector<std::string>> ListVmIps();
  // Snapshots (snapshot_records.cc). AlreadyExists / NotFound name the snapshot.
  Status InsertSnapshot(const SnapshotRecord& snap);
  Result<SnapshotRecord> GetSnapshot(std::string_view name);
  // Oldest first (by created_ms, then name).
  Result<std::vector<SnapshotRecord>> ListSnapshots();
  Status DeleteSnapshot(std::string_view name);

  sqlite3* db() const { return db_; }  // for new typed helpers in src/store only

 private:
  friend class Store;
  explicit Tx(sqlite3* db) : db_(db) {}
  sqlite3* const db_;
};

// warren's durable state: one SQLite database in WAL mode with foreign keys on and
// a busy timeout, its schema brought up to date by versioned migrations at Open.
//
// Thread-safety: thread-safe. All calls share one connection serialized by a leaf
// Mutex held for the whole call (a Transaction callback runs under it), so a Store
// call is never made while holding another leaf lock (the lock ranks abort if it
// is), and a Transaction callback must not call back into the Store.
class Store {
 public:
  // Opens or creates `db_file` and applies pending migrations, each in its own
  // transaction. A database whose schema is newer than this binary knows is
  // refused (FailedPrecondition) before anything is written to it.
  static Result<std::unique_ptr<Store>> Open(const std::filesystem::path& db_file);
  // As Open, with an explicit migration list (upgrade and refusal tests).
  static Result<std::unique_ptr<Store>> OpenWithMigrationsForTest(
      const std::filesystem::path& db_file, std::span<const Migration> migrations);

  // For `warren doctor`, safe while a daemon runs: opens read-only, migrates
  // nothing, and returns the integrity_check report ("ok" when sound). NotFound
  // when the file does not exist; FailedPrecondition for a schema newer than
  // this binary knows.
  static Result<std::string> CheckFile(const std::filesystem::path& db_file);

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The highest applied migration version.
  int SchemaVersion() const;
  // The newest version this binary knows (the last row of Migrations()).
  static int LatestSchemaVersion();

  // Runs `fn` in one IMMEDIATE transaction: commits if it returns OK, rolls back
  // (and returns its error) otherwise.
  Status Transaction(const std::function<Status(Tx&)>& fn) EXCLUDES(mu_);

  // PRAGMA integrity_check: "ok" when the database is sound, else its report.
  Result<std::string> IntegrityCheck() EXCLUDES(mu_);
  // PRAGMA journal_mode, e.g. "wal".
  Result<std::string> JournalMode() EXCLUDES(mu_);

  // Inserts or replaces the op with `op.id`.
  Status PutOp(const OpRecord& op) EXCLUDES(mu_);
  // All ops, oldest first (by started_ms, then insertion order).
  Result<std::vector<OpRecord>> ListOps() EXCLUDES(mu_);
  // NotFound names the id.
  Result<OpRecord> GetOp(std::string_view id) EXCLUDES(mu_);
  // Marks every "running" op "failed" with `error` and `ended_ms`; called once at
  // daemon start, when no op can still be running.
  Status MarkInterruptedOps(std::string_view error, int64_t ended_ms) EXCLUDES(mu_);

  // One-row image helpers (wrappers of the Tx ones, same errors).
  Status InsertImage(const ImageRecord& image) EXCLUDES(mu_);
  Result<std::vector<ImageRecord>> ListImages() EXCLUDES(mu_);
  Result<ImageRecord> GetImage(std::string_view name) EXCLUDES(mu_);
  Status DeleteImage(std::string_view name) EXCLUDES(mu_);

  // One-row VM helpers (wrappers of the Tx ones, same errors).
  Result<std::vector<VmRecord>> ListVms() EXCLUDES(mu_);
  Result<VmRecord> GetVm(std::string_view id_or_name) EXCLUDES(mu_);
  Result<std::vector<VmCapRecord>> ListVmCaps(std::string_view vm_id) EXCLUDES(mu_);
  Status PutVmCap(const VmCapRecord& cap) EXCLUDES(mu_);
  Result<std::vector<SnapshotRecord>> ListSnapshots() EXCLUDES(mu_);
  Result<SnapshotRecord> GetSnapshot(std::string_view name) EXCLUDES(mu_);

 private:
  Store(sqlite3* db, std::string name, int version);
  static Result<std::unique_ptr<Store>> OpenImpl(const std::filesystem::path& db_file,
                                                 std::span<const Migration> migrations);

  // Immutable after construction.
  const std::string name_;  // file name, for messages
  const int version_;

  mutable Mutex mu_{LockRank::kLeaf, "store"};
  sqlite3* const db_ PT_GUARDED_BY(mu_);
};

}  // namespace warren
