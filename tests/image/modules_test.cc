#include "image/modules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace warren {
namespace {

using ::testing::ElementsAre;

constexpr char kDep[] =
    "kernel/fs/isofs/isofs.ko: kernel/drivers/cdrom/cdrom.ko\n"
    "kernel/drivers/cdrom/cdrom.ko:\n"
    "kernel/drivers/virtio/virtio.ko:\n"
    "kernel/drivers/virtio/virtio_ring.ko:\n"
    "kernel/drivers/virtio/virtio_pci.ko: "
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko "
    "kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko:\n"
    "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko "
    "kernel/drivers/virtio/virtio_ring.ko\n"
    "kernel/drivers/char/hw_random/virtio-rng.ko.xz: "
    "kernel/drivers/virtio/virtio.ko\n";

TEST(ModulesTest, DependenciesComeFirstAndOnce) {
  Result<std::vector<std::string>> order =
      ModuleLoadOrder(kDep, {"virtio_pci", "virtio_blk", "isofs"});
  ASSERT_TRUE(order.ok()) << order.error().ToString();
  EXPECT_THAT(
      *order,
      ElementsAre("kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
                  "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko",
                  "kernel/drivers/virtio/virtio_pci.ko", "kernel/drivers/block/virtio_blk.ko",
                  "kernel/drivers/cdrom/cdrom.ko", "kernel/fs/isofs/isofs.ko"));
}

TEST(ModulesTest, DashAndUnderscoreMatchAndCompressionSuffixIgnored) {
  Result<std::vector<std::string>> order = ModuleLoadOrder(kDep, {"virtio_rng"});
  ASSERT_TRUE(order.ok());
  EXPECT_EQ(order->back(), "kernel/drivers/char/hw_random/virtio-rng.ko.xz");
  EXPECT_EQ(ModuleName(order->back()), "virtio-rng");
}

TEST(ModulesTest, MissingModule) {
  Result<std::vector<std::string>> order = ModuleLoadOrder(kDep, {"virtio_net"});
  ASSERT_FALSE(order.ok());
  EXPECT_EQ(order.error().code(), Code::kNotFound);
  EXPECT_THAT(order.error().message(), ::testing::HasSubstr("virtio_net"));
  Result<std::vector<std::string>> skipped = ModuleLoadOrder(kDep, {"virtio_net", "cdrom"}, true);
  ASSERT_TRUE(skipped.ok());
  EXPECT_THAT(*skipped, ElementsAre("kernel/drivers/cdrom/cdrom.ko"));
}

TEST(ModulesTest, MissingDependencyFailsEvenWhenSkipping) {
  Result<std::vector<std::string>> order =
      ModuleLoadOrder("kernel/a.ko: kernel/b.ko\n", {"a"}, true);
  ASSERT_FALSE(order.ok());
  EXPECT_THAT(order.error().message(), ::testing::HasSubstr("kernel/b.ko"));
}

}  // namespace
}  // namespace warren
