#include "store/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace warren {
namespace {

using ::testing::HasSubstr;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("warren_store_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = dir_ / "warren.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> OpenOk() {
    Result<std::unique_ptr<Store>> s = Store::Open(db_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  // Runs raw SQL on the file with a separate connection, like an older warren would.
  void RawExec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string message = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  }

  std::string ReadBytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  static OpRecord Op(std::string id, std::string state, int64_t started) {
    OpRecord r;
    r.id = std::move(id);
    r.kind = "vm.create";
    r.target = "web";
    r.state = std::move(state);
    r.step = "boot";
    r.fraction = 0.5;
    r.started_ms = started;
    r.result_json = R"({"ip":"10.77.0.2"})";
    return r;
  }

  std::filesystem::path dir_;
  std::filesystem::path db_;
};

TEST_F(StoreTest, FreshOpenMigratesToLatest) {
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion(), Store::LatestSchemaVersion());
  EXPECT_EQ(Store::LatestSchemaVersion(), static_cast<int>(Migrations().size()));
  Result<std::string> check = store->IntegrityCheck();
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(*check, "ok");
}

TEST_F(StoreTest, WalModeIsOn) {
  auto store = OpenOk();
  Result<std::string> mode = store->JournalMode();
  ASSERT_TRUE(mode.ok());
  EXPECT_EQ(*mode, "wal");
}

TEST_F(StoreTest, ForeignKeysAreOn) {
  auto store = OpenOk();
  Status st = store->Transaction([](Tx& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec("CREATE TABLE parent (id INTEGER PRIMARY KEY)"));
    RETURN_IF_ERROR(tx.Exec("CREATE TABLE child (p INTEGER REFERENCES parent (id))"));
    return tx.Exec("INSERT INTO child VALUES (42)");
  });
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("FOREIGN KEY"));
}

TEST_F(StoreTest, ReopenDoesNotMigrateAgain) {
  { auto store = OpenOk(); }
  RawExec("UPDATE schema_migrations SET description = 'marker' WHERE version = 1");
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion(), Store::LatestSchemaVersion());
  store.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(
                db,
                "SELECT COUNT(*), (SELECT description FROM schema_migrations WHERE version = 1) "
                "FROM schema_migrations",
                -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), Store::LatestSchemaVersion());
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)), "marker");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(StoreTest, UpgradesFromVersionOneBuiltByHand) {
  // What warren with only migration 1 would have left behind, with data in it.
  RawExec(std::string("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                      "description TEXT NOT NULL, applied_ms INTEGER NOT NULL);") +
          Migrations()[0].sql +
          "INSERT INTO schema_migrations VALUES (1, 'ops table', 0);"
          "INSERT INTO ops (id, kind, target, state, started_ms) "
          "VALUES ('op-old', 'image.build', 'default', 'succeeded', 5);");
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion(), Store::LatestSchemaVersion());
  Result<OpRecord> old = store->GetOp("op-old");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->kind, "image.build");
  EXPECT_EQ(old->result_json, "null");
  // Migration 2's index now exists.
  Status st = store->Transaction([](Tx& tx) {
    return tx.Exec("DROP INDEX ops_by_start");  // fails if the index is missing
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(StoreTest, FailedMigrationRollsBackAndKeepsOlderVersion) {
  std::vector<Migration> migrations(Migrations().begin(), Migrations().end());
  migrations.push_back({static_cast<int>(migrations.size()) + 1, "broken",
                        "CREATE TABLE half (x INTEGER); THIS IS NOT SQL;"});
  Result<std::unique_ptr<Store>> s = Store::OpenWithMigrationsForTest(db_, migrations);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message(), HasSubstr("(broken)"));
  auto store = OpenOk();  // the known migrations were kept, the broken one left no trace
  ASSERT_NE(store, nullptr);
  Status st = store->Transaction([](Tx& tx) { return tx.Exec("CREATE TABLE half (x INTEGER)"); });
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(StoreTest, NewerSchemaIsRefusedAndFileUntouched) {
  RawExec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT, "
      "applied_ms INTEGER); INSERT INTO schema_migrations VALUES (70, 'future', 0);");
  std::string before = ReadBytes(db_);
  ASSERT_FALSE(before.empty());
  Result<std::unique_ptr<Store>> s = Store::Open(db_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(s.error().message(),
            "store warren.db has schema version 70 but this warren understands up to " +
                std::to_string(Store::LatestSchemaVersion()) +
                "; upgrade warren (the store was not modified)");
  EXPECT_EQ(ReadBytes(db_), before);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "warren.db-wal"));
}

TEST_F(StoreTest, NotADatabaseIsAnError) {
  std::ofstream(db_) << "this is not sqlite, just text that is long enough to have a header...";
  Result<std::unique_ptr<Store>> s = Store::Open(db_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message(), HasSubstr("warren.db"));
}

TEST_F(StoreTest, TransactionRollsBackOnError) {
  auto store = OpenOk();
  Status st = store->Transaction([](Tx& tx) -> Status {
    RETURN_IF_ERROR(tx.PutOp(Op("op-a", "running", 1)));
    RETURN_IF_ERROR(tx.PutOp(Op("op-b", "running", 2)));
    return InvalidArgument("changed my mind");
  });
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  Result<std::vector<OpRecord>> ops = store->ListOps();
  ASSERT_TRUE(ops.ok());
  EXPECT_TRUE(ops->empty());

  st = store->Transaction([](Tx& tx) -> Status {
    RETURN_IF_ERROR(tx.PutOp(Op("op-a", "running", 1)));
    return tx.PutOp(Op("op-b", "bogus-state", 2));  // CHECK constraint fails
  });
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("op-b"));
  ops = store->ListOps();
  ASSERT_TRUE(ops.ok());
  EXPECT_TRUE(ops->empty());
}

TEST_F(StoreTest, OpsRoundTripAndUpsert) {
  auto store = OpenOk();
  ASSERT_TRUE(store->PutOp(Op("op-2", "running", 20)).ok());
  ASSERT_TRUE(store->PutOp(Op("op-1", "succeeded", 10)).ok());
  OpRecord updated = Op("op-2", "failed", 20);
  updated.error = "qemu exited";
  updated.ended_ms = 30;
  ASSERT_TRUE(store->PutOp(updated).ok());

  Result<std::vector<OpRecord>> ops = store->ListOps();
  ASSERT_TRUE(ops.ok());
  ASSERT_EQ(ops->size(), 2u);
  EXPECT_EQ((*ops)[0], Op("op-1", "succeeded", 10));
  EXPECT_EQ((*ops)[1], updated);

  Result<OpRecord> got = store->GetOp("op-2");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, updated);
  Result<OpRecord> missing = store->GetOp("op-nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_THAT(missing.error().message(), HasSubstr("op-nope"));
}

TEST_F(StoreTest, MarkInterruptedOpsFailsOnlyRunning) {
  auto store = OpenOk();
  ASSERT_TRUE(store->PutOp(Op("op-run", "running", 1)).ok());
  ASSERT_TRUE(store->PutOp(Op("op-done", "succeeded", 2)).ok());
  ASSERT_TRUE(store->MarkInterruptedOps("interrupted: daemon restarted", 99).ok());
  Result<OpRecord> run = store->GetOp("op-run");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state, "failed");
  EXPECT_EQ(run->error, "interrupted: daemon restarted");
  EXPECT_EQ(run->ended_ms, 99);
  Result<OpRecord> done = store->GetOp("op-done");
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, "succeeded");
  EXPECT_EQ(done->ended_ms, 0);
}

TEST_F(StoreTest, DataSurvivesReopen) {
  {
    auto store = OpenOk();
    ASSERT_TRUE(store->PutOp(Op("op-1", "succeeded", 10)).ok());
  }
  auto store = OpenOk();
  Result<OpRecord> got = store->GetOp("op-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, Op("op-1", "succeeded", 10));
}

// The state column keeps the strings clients and older databases know (the
// schema's CHECK allows only those); VmState is only the in-memory spelling.
TEST_F(StoreTest, VmStateIsStoredAsItsName) {
  auto store = OpenOk();
  VmRecord vm;
  vm.id = "vm-1";
  vm.name = "web";
  vm.ip = "10.77.0.2";
  vm.state = VmState::kStopping;
  ASSERT_TRUE(store->Transaction([&](Tx& tx) { return tx.InsertVm(vm); }).ok());
  Result<VmRecord> got = store->GetVm("web");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->state, VmState::kStopping);
  EXPECT_TRUE(IsLive(got->state));
  store.reset();
  RawExec("UPDATE vms SET state = 'failed' WHERE name = 'web' AND state = 'stopping'");
  store = OpenOk();
  EXPECT_EQ(store->GetVm("web")->state, VmState::kFailed);  // so it was stored as "stopping"
  for (VmState s : {VmState::kCreating, VmState::kStarting, VmState::kRunning, VmState::kStopping,
                    VmState::kStopped, VmState::kFailed}) {
    VmState back{};
    ASSERT_TRUE(ParseVmState(VmStateName(s), &back)) << VmStateName(s);
    EXPECT_EQ(back, s);
  }
  VmState unchanged = VmState::kRunning;
  EXPECT_FALSE(ParseVmState("hibernating", &unchanged));
  EXPECT_EQ(unchanged, VmState::kRunning);
  EXPECT_FALSE(IsLive(VmState::kStopped));
}

TEST_F(StoreTest, IntegrityCheckReportsCorruption) {
  {
    auto store = OpenOk();
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(store->PutOp(Op("op-" + std::to_string(i), "succeeded", i)).ok());
    }
  }
  // Point an index at the table's pages: the file still opens, but the index no
  // longer matches the rows, which integrity_check must notice.
  RawExec(
      "PRAGMA writable_schema = ON; UPDATE sqlite_master SET rootpage = (SELECT rootpage "
      "FROM sqlite_master WHERE name = 'ops') WHERE name = 'ops_by_start';");
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  Result<std::string> check = store->IntegrityCheck();
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_NE(*check, "ok");
}

TEST_F(StoreTest, CheckFileReadsWithoutChanging) {
  Result<std::string> absent = Store::CheckFile(db_);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().code(), Code::kNotFound);
  { auto store = OpenOk(); }
  std::string before = ReadBytes(db_);
  Result<std::string> check = Store::CheckFile(db_);
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_EQ(*check, "ok");
  EXPECT_EQ(ReadBytes(db_), before);
  // Works while a daemon holds the store open.
  auto store = OpenOk();
  check = Store::CheckFile(db_);
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_EQ(*check, "ok");
}

TEST_F(StoreTest, CheckFileRefusesNewerSchema) {
  RawExec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT, "
      "applied_ms INTEGER); INSERT INTO schema_migrations VALUES (9, 'future', 0);");
  Result<std::string> check = Store::CheckFile(db_);
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.error().code(), Code::kFailedPrecondition);
  EXPECT_THAT(check.error().message(), HasSubstr("schema version 9"));
}

TEST_F(StoreTest, ConcurrentWritersAreSerialized) {
  auto store = OpenOk();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        EXPECT_TRUE(store->PutOp(Op("op-" + std::to_string(t * 100 + i), "running", i)).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  Result<std::vector<OpRecord>> ops = store->ListOps();
  ASSERT_TRUE(ops.ok());
  EXPECT_EQ(ops->size(), 100u);
}

}  // namespace
}  // namespace warren

namespace warren {
namespace {

VmRecord SomeVm(std::string id, std::string name, std::string ip) {
  VmRecord vm;
  vm.id = std::move(id);
  vm.name = std::move(name);
  vm.image = "base";
  vm.state = VmState::kStopped;
  vm.ip = std::move(ip);
  vm.mac = "52:54:00:4d:00:02";
  return vm;
}

// A VM row as warren before migration 6 wrote it; the statement ends with
// "state, pid)" values.
constexpr std::string_view kOldVmInsert =
    "INSERT INTO vms (id, name, image, cpus, memory_mib, disk_gib, ip, mac, created_ms, state, pid)"
    " VALUES ('vm-old', 'old', 'base', 1, 512, 4, '10.77.0.2', '52:54:00:4d:00:02', 0, ";

// A database from before capabilities (migrations 1-4, a VM in it) gains the
// vm_caps table, and the old VM can hold settings at once.
TEST_F(StoreTest, UpgradeFromVersionFourAddsVmCaps) {
  std::vector<Migration> four(Migrations().begin(), Migrations().begin() + 4);
  {
    Result<std::unique_ptr<Store>> old = Store::OpenWithMigrationsForTest(db_, four);
    ASSERT_TRUE(old.ok()) << old.status().ToString();
    ASSERT_EQ((*old)->SchemaVersion(), 4);
  }
  // As warren wrote it then (today's InsertVm knows later columns).
  RawExec(std::string(kOldVmInsert) + "'stopped', 0)");
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  EXPECT_GE(store->SchemaVersion(), 5);
  Result<std::vector<VmCapRecord>> none = store->ListVmCaps("vm-old");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(store->PutVmCap({"vm-old", "share", R"(["/a:/b"])"}).ok());
  EXPECT_EQ(store->ListVmCaps("vm-old")->size(), 1u);
}

TEST_F(StoreTest, VmCapsRoundTripReplaceAndGoWithTheVm) {
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Transaction([](Tx& tx) -> Status {
    RETURN_IF_ERROR(tx.InsertVm(SomeVm("vm-a", "a", "10.77.0.2")));
    RETURN_IF_ERROR(tx.InsertVm(SomeVm("vm-b", "b", "10.77.0.3")));
    RETURN_IF_ERROR(tx.PutVmCap({"vm-a", "ssh_key", R"(["ssh-ed25519 AAAA x"])"}));
    RETURN_IF_ERROR(tx.PutVmCap({"vm-a", "publish", R"(["8080:80"])"}));
    return tx.PutVmCap({"vm-b", "publish", R"(["8081:80"])"});
  }).ok());
  // Ordered by name; a second Put replaces.
  ASSERT_TRUE(store->PutVmCap({"vm-a", "publish", R"(["9090:90"])"}).ok());
  Result<std::vector<VmCapRecord>> a = store->ListVmCaps("vm-a");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0], (VmCapRecord{"vm-a", "publish", R"(["9090:90"])"}));
  EXPECT_EQ((*a)[1], (VmCapRecord{"vm-a", "ssh_key", R"(["ssh-ed25519 AAAA x"])"}));
  // A VM that does not exist cannot hold settings (by name neither: rows are by id).
  EXPECT_EQ(store->PutVmCap({"vm-zz", "publish", "[]"}).code(), Code::kNotFound);
  EXPECT_EQ(store->PutVmCap({"a", "publish", "[]"}).code(), Code::kNotFound);

  ASSERT_TRUE(store->Transaction([](Tx& tx) { return tx.DeleteVm("vm-a"); }).ok());
  EXPECT_TRUE(store->ListVmCaps("vm-a")->empty());
  EXPECT_EQ(store->ListVmCaps("vm-b")->size(), 1u);
  // Nothing of vm-a left in the table itself.
  std::string left;
  ASSERT_TRUE(store->Transaction([&](Tx& tx) -> Status {
    ASSIGN_OR_RETURN(std::vector<VmCapRecord> rows, tx.ListVmCaps("vm-a"));
    left = std::to_string(rows.size());
    return Status::Ok();
  }).ok());
  EXPECT_EQ(left, "0");
}

// A database from before started_ms (migrations 1-5, a running VM in it)
// gains the column with 0 for its VMs; a start time then round-trips.
TEST_F(StoreTest, UpgradeFromVersionFiveAddsStartedMs) {
  std::vector<Migration> five(Migrations().begin(), Migrations().begin() + 5);
  {
    Result<std::unique_ptr<Store>> old = Store::OpenWithMigrationsForTest(db_, five);
    ASSERT_TRUE(old.ok()) << old.status().ToString();
    ASSERT_EQ((*old)->SchemaVersion(), 5);
  }
  RawExec(std::string(kOldVmInsert) + "'running', 4242)");
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  EXPECT_GE(store->SchemaVersion(), 6);
  Result<VmRecord> old = store->GetVm("old");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->started_ms, 0);
  EXPECT_EQ(old->pid, 4242);

  VmRecord started = *old;
  started.started_ms = 1'790'000'000'123;
  ASSERT_TRUE(store->Transaction([&](Tx& tx) { return tx.UpdateVm(started); }).ok());
  VmRecord fresh = SomeVm("vm-new", "new", "10.77.0.3");
  fresh.started_ms = 1'790'000'000'456;
  ASSERT_TRUE(store->Transaction([&](Tx& tx) { return tx.InsertVm(fresh); }).ok());
  store.reset();  // what a daemon restart reads back
  store = OpenOk();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetVm("old")->started_ms, 1'790'000'000'123);
  EXPECT_EQ(store->GetVm("new")->started_ms, 1'790'000'000'456);
  Result<std::vector<VmRecord>> all = store->ListVms();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  auto old_row = std::find_if(all->begin(), all->end(), [](const VmRecord& v) { return v.name == "old"; });
  ASSERT_NE(old_row, all->end());
  EXPECT_EQ(*old_row, started);
}

// A database from before snapshots (migrations 1-6, a running VM in it) gains
// the snapshots table and vms.snapshot ('' for its VMs: booted, not cloned);
// a snapshot and a clone's link to it then round-trip across a reopen.
TEST_F(StoreTest, UpgradeFromVersionSixAddsSnapshots) {
  std::vector<Migration> six(Migrations().begin(), Migrations().begin() + 6);
  {
    Result<std::unique_ptr<Store>> old = Store::OpenWithMigrationsForTest(db_, six);
    ASSERT_TRUE(old.ok()) << old.status().ToString();
    ASSERT_EQ((*old)->SchemaVersion(), 6);
  }
  RawExec(std::string(kOldVmInsert) + "'running', 4242)");
  auto store = OpenOk();
  ASSERT_NE(store, nullptr);
  EXPECT_GE(store->SchemaVersion(), 8);
  Result<VmRecord> old = store->GetVm("old");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->snapshot, "");
  Result<std::vector<SnapshotRecord>> none = store->ListSnapshots();
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());

  SnapshotRecord snap{.name = "s1", .vm_id = "vm-old", .vm_name = "old", .image = "base",
                      .cpus = 1, .memory_mib = 512, .disk_gib = 4,
                      .mac = "52:54:00:4d:00:02", .ip = "10.77.0.2",
                      .files_json = R"({"state":10})", .size_bytes = 10,
                      .created_ms = 1'790'000'000'000, .agent = true,
                      .parent = "s0"};
  ASSERT_TRUE(store->Transaction([&](Tx& tx) { return tx.InsertSnapshot(snap); }).ok());
  EXPECT_EQ(store->Transaction([&](Tx& tx) { return tx.InsertSnapshot(snap); }).code(),
            Code::kAlreadyExists);
  VmRecord clone = SomeVm("vm-clone", "clone", "10.77.0.3");
  clone.snapshot = "s1";
  ASSERT_TRUE(store->Transaction([&](Tx& tx) { return tx.InsertVm(clone); }).ok());
  store.reset();  // what a daemon restart reads back
  store = OpenOk();
  ASSERT_NE(store, nullptr);
  Result<SnapshotRecord> back = store->GetSnapshot("s1");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, snap);
  EXPECT_EQ(store->GetVm("clone")->snapshot, "s1");
  EXPECT_EQ(store->GetSnapshot("nope").error().code(), Code::kNotFound);
}

}  // namespace
}  // namespace warren
