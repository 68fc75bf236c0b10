// ImageRegistry with a FakeImageBuilder, a real Store and OpRegistry on a temp
// dir. Register tests use the real cp, tar and mkfs.ext4.
#include "image/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fakes/fake_clock.h"
#include "fakes/fake_image_builder.h"
#include "image/digest.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr uint64_t kMiB = 1 << 20;

// A sparse file of `size` bytes with `magic` written at `offset`.
void WriteFileWith(const fs::path& path, uint64_t size, uint64_t offset, std::string_view magic) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.seekp(static_cast<std::streamoff>(offset));
    out.write(magic.data(), static_cast<std::streamsize>(magic.size()));
  }
  fs::resize_file(path, std::max<uint64_t>(size, offset + magic.size()));
}

class ImageRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warren-registry-XXXXXX";
    dir_ = mkdtemp(tmpl);
    images_ = dir_ / "images";
    fs::create_directories(images_);
    files_ = dir_ / "files";
    fs::create_directories(files_);
    auto s = Store::Open(dir_ / "warren.db");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    ops_ = std::make_unique<OpRegistry>(store_.get(), &clock_);
    OpenRegistry();
  }
  void TearDown() override {
    ops_->Shutdown();
    registry_.reset();
    ops_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  void OpenRegistry() {
    ImageRegistry::Options o;
    o.images_dir = images_;
    o.cache_dir = dir_ / "cache";
    o.build_timeout = std::chrono::seconds(600);
    o.users = [this](std::string_view) { return users_; };
    auto r = ImageRegistry::Open(o, store_.get(), ops_.get(), &builder_, &runner_, &clock_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    registry_ = std::move(r).value();
  }

  OpInfo Wait(const std::string& id) {
    Result<OpInfo> info = ops_->Wait(id, {}, [](const OpInfo&, const std::string*) {});
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? *info : OpInfo{};
  }

  std::vector<std::string> StagingEntries() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(images_ / ".staging")) {
      out.push_back(e.path().filename().string());
    }
    return out;
  }

  size_t ListSize() {
    auto l = registry_->List();
    EXPECT_TRUE(l.ok());
    return l.ok() ? l->size() : 0;
  }

  RegisterRequest GoodFiles() {
    WriteFileWith(files_ / "bzImage", 2 * kMiB, 0x202, "HdrS");
    WriteFileWith(files_ / "root.ext4", 2 * kMiB, 1080, "\x53\xef");
    WriteFileWith(files_ / "initrd", 100, 0, "070701");
    RegisterRequest req;
    req.name = "reg";
    req.kernel = files_ / "bzImage";
    req.rootfs = files_ / "root.ext4";
    req.initrd = files_ / "initrd";
    return req;
  }

  fs::path dir_, images_, files_;
  FakeClock clock_;
  RealRunner runner_;
  FakeImageBuilder builder_;
  std::vector<ImageUser> users_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<OpRegistry> ops_;
  std::unique_ptr<ImageRegistry> registry_;
};

TEST(ImageHasGuestAgentTest, OnlyAnExplicitTrueFact) {
  using json = nlohmann::json;
  EXPECT_TRUE(ImageHasGuestAgent(json{{"facts", {{"guest_agent", true}}}}));
  EXPECT_FALSE(ImageHasGuestAgent(json{{"facts", {{"guest_agent", false}}}}));
  EXPECT_FALSE(ImageHasGuestAgent(json{{"facts", {{"guest_agent", "yes"}}}}));
  EXPECT_FALSE(ImageHasGuestAgent(json{{"facts", {{"cloud_init", true}}}}));
  EXPECT_FALSE(ImageHasGuestAgent(json{{"facts", json::array()}}));
  EXPECT_FALSE(ImageHasGuestAgent(json::object()));
  EXPECT_FALSE(ImageHasGuestAgent(json()));
}

TEST(ImageNameTest, DnsLabelRule) {
  for (std::string good :
       {std::string("a"), std::string("web-2"), std::string("0abc"), std::string(63, 'x')}) {
    EXPECT_TRUE(ValidateImageName(good).ok()) << good;
  }
  for (std::string bad : std::vector<std::string>{"", "-a", "a-", "Web", "a_b", "a.b", "../x",
                                                  std::string(64, 'x')}) {
    Status s = ValidateImageName(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("1-63 characters from a-z, 0-9 and '-'"));
  }
}

TEST_F(ImageRegistryTest, BuildPublishesAtomicallyWithChecksums) {
  builder_.block = true;
  Result<std::string> id = registry_->BuildImage("web", DefaultRecipe(), "");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(builder_.WaitEntered());
  // Mid-build: staged, not visible.
  EXPECT_EQ(ListSize(), 0u);
  EXPECT_FALSE(fs::exists(images_ / "web"));
  EXPECT_THAT(StagingEntries(), ::testing::ElementsAre("web-" + *id));
  builder_.Release();
  OpInfo op = Wait(*id);
  ASSERT_EQ(op.state, OpState::kSucceeded) << op.error;
  EXPECT_EQ(op.kind, "image.build");
  EXPECT_EQ(op.result["name"], "web");

  EXPECT_THAT(StagingEntries(), IsEmpty());
  auto info = registry_->Get("web");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->state, "ready");
  const nlohmann::json& m = info->manifest;
  EXPECT_EQ(m["source"]["type"], "recipe");
  EXPECT_EQ(m["source"]["default"], true);
  EXPECT_EQ(m["cmdline"], "console=ttyS0 fake");
  EXPECT_EQ(m["facts"]["flavour"], "minimal");
  for (const char* role : {"kernel", "initrd", "rootfs"}) {
    std::string file = m["parts"][role]["file"];
    fs::path p = images_ / "web" / file;
    ASSERT_TRUE(fs::exists(p)) << p;
    EXPECT_EQ(m["parts"][role]["sha256"], *Sha256FileHex(p));
    EXPECT_EQ(m["parts"][role]["bytes"], fs::file_size(p));
  }
  EXPECT_TRUE(fs::exists(images_ / "web" / "rootfs.ext4"));
  EXPECT_FALSE(fs::exists(images_ / "web" / "root"));  // builder scratch never published
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(images_ / "web" / "manifest.json")), m);
  EXPECT_EQ(builder_.last_cache_dir(), dir_ / "cache");
}

TEST_F(ImageRegistryTest, SecondBuildOfSameNameIsRefusedNotMerged) {
  builder_.block = true;
  auto first = registry_->BuildImage("web", DefaultRecipe(), "");
  ASSERT_TRUE(first.ok());
  auto second = registry_->BuildImage("web", DefaultRecipe(), "");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), Code::kAlreadyExists);
  EXPECT_THAT(second.error().message(),
              HasSubstr("a build of web is already running (" + *first + ")"));
  // Another name builds alongside.
  auto other = registry_->BuildImage("db", DefaultRecipe(), "");
  ASSERT_TRUE(other.ok());
  builder_.Release();
  EXPECT_EQ(Wait(*first).state, OpState::kSucceeded);
  EXPECT_EQ(Wait(*other).state, OpState::kSucceeded);
  // An existing image is not rebuilt in place.
  auto again = registry_->BuildImage("web", DefaultRecipe(), "");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), Code::kAlreadyExists);
  EXPECT_THAT(again.error().message(), HasSubstr("warren image rm web"));
  EXPECT_EQ(registry_->InFlightCount(), 0u);
}

TEST_F(ImageRegistryTest, FailedBuildLeavesNothing) {
  builder_.fail_with = Internal("mmdebstrap exited 1");
  auto id = registry_->BuildImage("web", DefaultRecipe(), "");
  ASSERT_TRUE(id.ok());
  OpInfo op = Wait(*id);
  EXPECT_EQ(op.state, OpState::kFailed);
  EXPECT_THAT(op.error, HasSubstr("mmdebstrap exited 1"));
  EXPECT_EQ(ListSize(), 0u);
  EXPECT_FALSE(fs::exists(images_ / "web"));
  EXPECT_THAT(StagingEntries(), IsEmpty());
  // The name is free again.
  builder_.fail_with = Status::Ok();
  auto retry = registry_->BuildImage("web", DefaultRecipe(), "");
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_EQ(Wait(*retry).state, OpState::kSucceeded);
}

TEST_F(ImageRegistryTest, CancelledBuildLeavesNothing) {
  builder_.block = true;
  auto id = registry_->BuildImage("web", DefaultRecipe(), "");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(builder_.WaitEntered());
  ASSERT_TRUE(ops_->Cancel(*id).ok());
  EXPECT_EQ(Wait(*id).state, OpState::kCancelled);
  EXPECT_EQ(ListSize(), 0u);
  EXPECT_FALSE(fs::exists(images_ / "web"));
  EXPECT_THAT(StagingEntries(), IsEmpty());
  EXPECT_EQ(registry_->InFlightCount(), 0u);
}

TEST_F(ImageRegistryTest, BuildOverItsTimeoutFailsAndLeavesNothing) {
  builder_.block = true;  // until stopped
  auto id = registry_->BuildImage("web", DefaultRecipe(), "");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(builder_.WaitEntered());
  clock_.Advance(std::chrono::seconds(601));
  OpInfo op = Wait(*id);
  EXPECT_EQ(op.state, OpState::kFailed);
  EXPECT_THAT(op.error, HasSubstr("longer than 600 s (images.build_timeout_s)"));
  EXPECT_EQ(ListSize(), 0u);
  EXPECT_THAT(StagingEntries(), IsEmpty());
}

TEST_F(ImageRegistryTest, RecoveryRemovesDebrisAndUnpublishedDirs) {
  // What a daemon killed mid-build / mid-publish leaves behind.
  fs::create_directories(images_ / ".staging" / "web-op-1234" / "root" / "etc");
  std::ofstream(images_ / ".staging" / "web-op-1234" / "rootfs.img") << "half";
  fs::create_directories(images_ / "ghost");
  std::ofstream(images_ / "ghost" / "manifest.json") << "{}";
  // A record whose directory vanished.
  ASSERT_TRUE(store_->InsertImage({"lost", 1, "{}", "ready"}).ok());
  OpenRegistry();
  EXPECT_THAT(StagingEntries(), IsEmpty());
  EXPECT_FALSE(fs::exists(images_ / "ghost"));
  auto lost = registry_->Get("lost");
  ASSERT_TRUE(lost.ok());
  EXPECT_EQ(lost->state, "missing");
  // A missing image can still be removed.
  EXPECT_TRUE(registry_->DeleteImage("lost", false).ok());
}

TEST_F(ImageRegistryTest, RegisterCopiesVerifiesAndChecksums) {
  RegisterRequest req = GoodFiles();
  req.cmdline = "console=ttyS0 root=/dev/vda";
  auto info = registry_->RegisterImage(req, {});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->manifest["source"]["type"], "files");
  EXPECT_EQ(info->manifest["source"]["rootfs_from"], "ext4");
  EXPECT_EQ(info->manifest["cmdline"], "console=ttyS0 root=/dev/vda");
  EXPECT_EQ(info->manifest["parts"]["kernel"]["sha256"], *Sha256FileHex(req.kernel));
  EXPECT_EQ(info->manifest["parts"]["rootfs"]["sha256"], *Sha256FileHex(req.rootfs));
  EXPECT_EQ(info->manifest["parts"]["initrd"]["bytes"], 100);
  EXPECT_TRUE(fs::exists(images_ / "reg" / "vmlinuz"));
  EXPECT_THAT(StagingEntries(), IsEmpty());
  EXPECT_TRUE(fs::exists(req.kernel));  // copied, not moved
  auto again = registry_->RegisterImage(req, {});
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
}

TEST_F(ImageRegistryTest, RegisterWithoutInitrdUsesDefaultCmdline) {
  RegisterRequest req = GoodFiles();
  req.initrd.clear();
  auto info = registry_->RegisterImage(req, {});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_FALSE(info->manifest["parts"].contains("initrd"));
  EXPECT_THAT(std::string(info->manifest["cmdline"]), HasSubstr("root=/dev/vda"));
}

// Each bad file is refused with its role, its path and what is wrong; nothing
// is registered or staged.
TEST_F(ImageRegistryTest, RegisterRefusesBadFiles) {
  RegisterRequest good = GoodFiles();
  WriteFileWith(files_ / "zeros", 2 * kMiB, 0, "");
  WriteFileWith(files_ / "tiny-kernel", 4096, 0x202, "HdrS");
  WriteFileWith(files_ / "tiny-ext4", 4096, 1080, "\x53\xef");
  WriteFileWith(files_ / "huge-kernel", 300 * kMiB, 0x202, "HdrS");
  struct Case {
    std::function<void(RegisterRequest&)> edit;
    std::string want;
  };
  std::vector<Case> cases = {
      {[&](RegisterRequest& r) { r.kernel = files_ / "nope"; },
       "kernel " + files_.string() + "/nope: no such file"},
      {[&](RegisterRequest& r) { r.kernel = files_; }, "is a directory"},
      {[&](RegisterRequest& r) { r.kernel = "relative/bzImage"; }, "must be absolute"},
      {[&](RegisterRequest& r) { r.kernel = files_ / "zeros"; }, "not a Linux kernel"},
      {[&](RegisterRequest& r) { r.kernel = files_ / "tiny-kernel"; }, "out of range (1..256 MiB)"},
      {[&](RegisterRequest& r) { r.kernel = files_ / "huge-kernel"; }, "out of range"},
      {[&](RegisterRequest& r) { r.rootfs = files_ / "zeros"; },
       "rootfs " + files_.string() + "/zeros: neither an ext4"},
      {[&](RegisterRequest& r) { r.rootfs = files_ / "tiny-ext4"; }, "at least 1 MiB"},
      {[&](RegisterRequest& r) { r.rootfs = "/dev/null"; }, "not a regular file"},
      {[&](RegisterRequest& r) { r.initrd = files_ / "zeros"; },
       "initrd " + files_.string() + "/zeros: not an initramfs"},
      {[&](RegisterRequest& r) { r.name = "Bad_Name"; }, "bad image name"},
  };
  for (const Case& c : cases) {
    RegisterRequest req = good;
    c.edit(req);
    auto r = registry_->RegisterImage(req, {});
    ASSERT_FALSE(r.ok()) << c.want;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << r.error().message();
    EXPECT_THAT(r.error().message(), HasSubstr(c.want));
  }
  EXPECT_EQ(ListSize(), 0u);
  EXPECT_THAT(StagingEntries(), IsEmpty());
}

TEST_F(ImageRegistryTest, RegisterRootfsTarballBecomesExt4) {
  RegisterRequest req = GoodFiles();
  fs::create_directories(files_ / "tree" / "etc");
  std::ofstream(files_ / "tree" / "etc" / "hostname") << "guest\n";
  RunSpec tar;
  tar.argv = {"tar", "-czf", (files_ / "root.tar.gz").string(), "-C", (files_ / "tree").string(),
              "."};
  ASSERT_TRUE(RunAndCheck(runner_, tar).ok());
  req.rootfs = files_ / "root.tar.gz";
  auto info = registry_->RegisterImage(req, {});
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->manifest["source"]["rootfs_from"], "tarball");
  // The result passes the ext4 check itself.
  auto kind = CheckRootfsFile(images_ / "reg" / "rootfs.ext4");
  ASSERT_TRUE(kind.ok()) << kind.status().ToString();
  EXPECT_EQ(*kind, RootfsKind::kExt4);
  EXPECT_FALSE(fs::exists(images_ / "reg" / "root"));
}

TEST_F(ImageRegistryTest, RemoveIsRefusedWhileVmsUseTheImage) {
  ASSERT_TRUE(registry_->RegisterImage(GoodFiles(), {}).ok());
  users_ = {{"vm1", false}, {"vm2", true}};
  Status s = registry_->DeleteImage("reg", false);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("used by VM vm1, vm2"));
  EXPECT_THAT(s.message(), HasSubstr("--force"));
  s = registry_->DeleteImage("reg", true);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("running VM vm2"));
  EXPECT_TRUE(fs::exists(images_ / "reg"));
  users_ = {{"vm1", false}};
  EXPECT_TRUE(registry_->DeleteImage("reg", true).ok());
  EXPECT_EQ(ListSize(), 0u);
}

TEST_F(ImageRegistryTest, RemoveDeletesDirectoryAndRecord) {
  ASSERT_TRUE(registry_->RegisterImage(GoodFiles(), {}).ok());
  ASSERT_TRUE(registry_->DeleteImage("reg", false).ok());
  EXPECT_FALSE(fs::exists(images_ / "reg"));
  EXPECT_THAT(StagingEntries(), IsEmpty());
  EXPECT_EQ(ListSize(), 0u);
  EXPECT_EQ(registry_->DeleteImage("reg", false).code(), Code::kNotFound);
  // The name can be used again.
  EXPECT_TRUE(registry_->RegisterImage(GoodFiles(), {}).ok());
}

TEST_F(ImageRegistryTest, PruneIsRefusedWhileABuildRuns) {
  builder_.block = true;
  auto id = registry_->BuildImage("web", DefaultRecipe(), "");
  ASSERT_TRUE(id.ok());
  auto pruned = registry_->PruneCache();
  EXPECT_EQ(pruned.status().code(), Code::kFailedPrecondition);
  EXPECT_THAT(pruned.status().message(), HasSubstr(*id));
  builder_.Release();
  Wait(*id);
  fs::create_directories(dir_ / "cache");
  std::ofstream(dir_ / "cache" / ("base-" + std::string(64, 'a') + ".tar")) << "tarball";
  auto listed = registry_->ListCache();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);
  pruned = registry_->PruneCache();
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 7u);
  EXPECT_THAT(*registry_->ListCache(), IsEmpty());
}

}  // namespace
}  // namespace warren
