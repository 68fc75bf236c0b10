#include "image/recipe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace warren {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RecipeTest, DefaultIsMinimalBookwormDropbear) {
  Recipe r = DefaultRecipe();
  EXPECT_EQ(r.suite, "bookworm");
  EXPECT_EQ(r.flavour, Flavour::kMinimal);
  EXPECT_EQ(r.ssh_server, SshServer::kDropbear);
  EXPECT_THAT(BasePackages(r), ElementsAre("busybox-static", "dropbear-bin", "kmod",
                                           "linux-image-cloud-amd64", "tiny-initramfs"));
}

TEST(RecipeTest, ParsesEveryKey) {
  Result<Recipe> r = ParseRecipe(R"(
suite = "trixie"
flavour = "systemd"
packages = ["curl", "g++"]
commands = [["apt-get", "clean"], ["useradd", "-m", "dev"]]
cmdline = "mitigations=off"
rootfs_mib = 2048
[[files]]
path = "/etc/motd"
content = "hello\n"
[[files]]
path = "/usr/local/bin/x"
content = "#!/bin/sh\n"
mode = "0755"
)",
                                 "r.toml");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->suite, "trixie");
  EXPECT_EQ(r->flavour, Flavour::kSystemd);
  EXPECT_EQ(r->ssh_server, SshServer::kOpenssh);  // systemd implies openssh
  EXPECT_THAT(r->packages, ElementsAre("curl", "g++"));
  ASSERT_EQ(r->commands.size(), 2u);
  EXPECT_THAT(r->commands[1], ElementsAre("useradd", "-m", "dev"));
  ASSERT_EQ(r->files.size(), 2u);
  EXPECT_EQ(r->files[0].mode, 0644u);
  EXPECT_EQ(r->files[1].mode, 0755u);
  EXPECT_EQ(r->cmdline_extra, "mitigations=off");
  EXPECT_EQ(r->rootfs_mib, 2048u);
  EXPECT_THAT(BasePackages(*r), ::testing::Contains("systemd-sysv"));
  EXPECT_THAT(BasePackages(*r), ::testing::Contains("openssh-server"));
}

TEST(RecipeTest, IntegerOctalMode) {
  Result<Recipe> r = ParseRecipe("[[files]]\npath = \"/a\"\ncontent = \"\"\nmode = 0o600\n", "m");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->files[0].mode, 0600u);
}

struct BadCase {
  const char* toml;
  const char* message;
};

class RecipeErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(RecipeErrorTest, IsInvalidArgumentNamingTheProblem) {
  Result<Recipe> r = ParseRecipe(GetParam().toml, "my.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(r.error().message(), HasSubstr("my.toml"));
  EXPECT_THAT(r.error().message(), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RecipeErrorTest,
    ::testing::Values(
        BadCase{"pakages = [\"x\"]", "unknown key \"pakages\""},
        BadCase{"\n\nflavour = \"alpine\"", "my.toml:3: bad flavour \"alpine\""},
        BadCase{"packages = [\"Bad_Name\"]", "bad package name \"Bad_Name\""},
        BadCase{"packages = \"curl\"", "must be an array"},
        BadCase{"suite = \"Bookworm!\"", "bad suite"},
        BadCase{"ssh_server = \"telnet\"", "bad ssh_server"},
        BadCase{"flavour = \"systemd\"\nssh_server = \"dropbear\"", "only supported by"},
        BadCase{"commands = [[]]", "needs a program name"},
        BadCase{"[[files]]\npath = \"etc/x\"\ncontent = \"\"", "must be absolute"},
        BadCase{"[[files]]\npath = \"/etc/../../x\"\ncontent = \"\"", "without \"..\""},
        BadCase{"[[files]]\npath = \"/x\"", "needs both path and content"},
        BadCase{"[[files]]\npath = \"/x\"\ncontent = \"\"\nowner = \"me\"",
                "unknown key \"owner\""},
        BadCase{"[[files]]\npath = \"/x\"\ncontent = \"\"\nmode = \"0999\"", "octal"},
        BadCase{"rootfs_mib = 10", "rootfs_mib"}, BadCase{"cmdline = \"a\\nb\"", "single line"},
        BadCase{"suite = ", "my.toml:1"}));

TEST(CacheKeyTest, StableAndHex) {
  std::string k = CacheKey("base", DefaultRecipe());
  EXPECT_EQ(k.size(), 64u);
  EXPECT_EQ(k.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(k, CacheKey("base", DefaultRecipe()));
  EXPECT_NE(k, CacheKey("image", DefaultRecipe()));
}

TEST(CacheKeyTest, PackageOrderAndDuplicatesDoNotMatter) {
  Recipe a = DefaultRecipe(), b = DefaultRecipe();
  a.packages = {"curl", "jq"};
  b.packages = {"jq", "curl", "jq"};
  EXPECT_EQ(CacheKey("base", a), CacheKey("base", b));
}

TEST(CacheKeyTest, BaseChangesWithItsInputsOnly) {
  Recipe base = DefaultRecipe();
  Recipe suite = base, pkg = base, flavour = base, cmd = base;
  suite.suite = "trixie";
  pkg.packages = {"curl"};
  flavour.flavour = Flavour::kSystemd;
  flavour.ssh_server = SshServer::kOpenssh;
  cmd.commands = {{"true"}};
  std::string k = CacheKey("base", base);
  EXPECT_NE(k, CacheKey("base", suite));
  EXPECT_NE(k, CacheKey("base", pkg));
  EXPECT_NE(k, CacheKey("base", flavour));
  EXPECT_EQ(k, CacheKey("base", cmd));                         // commands run after the base
  EXPECT_NE(CacheKey("image", base), CacheKey("image", cmd));  // ...but change the image
}

TEST(PackageNameTest, FollowsDebianPolicy) {
  EXPECT_TRUE(IsValidPackageName("g++"));
  EXPECT_TRUE(IsValidPackageName("libc6.1-dev"));
  EXPECT_FALSE(IsValidPackageName("a"));
  EXPECT_FALSE(IsValidPackageName("-x"));
  EXPECT_FALSE(IsValidPackageName("curl:amd64"));
  EXPECT_FALSE(IsValidPackageName("curl;rm"));
}

}  // namespace
}  // namespace warren
