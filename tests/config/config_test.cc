#include "config/config.h"
#include "config/config_checks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace warren {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

Status ParseError(std::string_view text) {
  Result<Config> c = ParseConfig(text, "config.toml");
  EXPECT_FALSE(c.ok()) << "parsed: " << text;
  return c.status();
}

TEST(ConfigTest, EmptyTextIsDefaults) {
  Result<Config> c = ParseConfig("", "config.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*c, Config{});
  EXPECT_EQ(c->rpc.max_frame_bytes, 4 << 20);
  EXPECT_EQ(c->network.subnet, "10.77.0.0/24");
  EXPECT_EQ(c->network.netns, "");  // derived from the root at start
  EXPECT_TRUE(c->dns.enabled);
  EXPECT_EQ(c->dns.rate_limit_qps, 0);  // no DNS rate limit unless asked for
}

TEST(ConfigTest, DefaultFileRoundTrips) {
  std::string text = DefaultConfigToml();
  Result<Config> c = ParseConfig(text, "default.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString() << "\n" << text;
  EXPECT_EQ(*c, Config{});
  // Every key appears, commented.
  EXPECT_THAT(text, HasSubstr("[network]"));
  EXPECT_THAT(text, HasSubstr("namespace = \"\""));
  EXPECT_THAT(text, HasSubstr("max_requests_per_connection = 16"));
  EXPECT_THAT(text, HasSubstr("enabled = true"));
  EXPECT_THAT(text, HasSubstr("# "));
}

TEST(ConfigTest, OverridesValues) {
  Result<Config> c = ParseConfig(R"(
[daemon]
log_level = "debug"
[rpc]
max_connections = 8
socket_group = "warren"
[vm]
accelerator = "tcg"
default_memory_mib = 1024
[network]
mode = "nat"
subnet = "192.168.50.0/28"
namespace = "wtest"
tap_pool_size = 0
[dns]
domain = "vm.test"
host_listen = "127.0.0.2:53"
enabled = false
rate_limit_qps = 50000
[images]
mirror = "http://deb.debian.org/debian"
)",
                                 "config.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->daemon.log_level, "debug");
  EXPECT_EQ(c->rpc.max_connections, 8);
  EXPECT_EQ(c->rpc.socket_group, "warren");
  EXPECT_EQ(c->vm.accelerator, "tcg");
  EXPECT_EQ(c->vm.default_memory_mib, 1024);
  EXPECT_EQ(c->network.mode, "nat");
  EXPECT_EQ(c->network.subnet, "192.168.50.0/28");
  EXPECT_EQ(c->network.netns, "wtest");
  EXPECT_EQ(c->network.tap_pool_size, 0);
  EXPECT_EQ(c->dns.domain, "vm.test");
  EXPECT_EQ(c->dns.host_listen, "127.0.0.2:53");
  EXPECT_FALSE(c->dns.enabled);
  EXPECT_EQ(c->dns.rate_limit_qps, 50000);
  EXPECT_EQ(c->images.mirror, "http://deb.debian.org/debian");
  EXPECT_EQ(c->vm.default_cpus, 1);  // untouched keys keep defaults
}

TEST(ConfigTest, MemoryBudgetSizesAndAuto) {
  Result<Config> c = ParseConfig(R"(
[vm]
memory_budget = "20GiB"
memory_reserve = "512MiB"
memory_overcommit = 1.5
memory_overhead = "64M"
)",
                                 "t.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*MemoryBudgetBytes(c->vm, 8ull << 30), 20ull << 30);  // explicit: host ignored
  EXPECT_EQ(*config_checks::ParseByteSize(c->vm.memory_overhead), 64ull << 20);
  c->vm.memory_budget = "auto";
  // (8 GiB - 512 MiB) * 1.5 = 11.25 GiB
  EXPECT_EQ(*MemoryBudgetBytes(c->vm, 8ull << 30), (15ull << 30) * 3 / 4);
  EXPECT_EQ(*MemoryBudgetBytes(c->vm, 256ull << 20), 0u);  // reserve beyond the host
  EXPECT_EQ(*MemoryBudgetBytes(Config{}.vm, 24ull << 30), 3 * (23ull << 30));  // defaults
  EXPECT_EQ(*config_checks::ParseByteSize("1073741824"), 1ull << 30);
  EXPECT_EQ(*config_checks::ParseByteSize("1.5GiB"), 3ull << 29);

  Result<Config> bad = ParseConfig("[vm]\nmemory_budget = \"lots\"\nmemory_overcommit = 0\n",
                                   "t.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("vm.memory_budget = \"lots\" is not a size"));
  EXPECT_THAT(bad.status().message(), HasSubstr("vm.memory_overcommit = 0 is out of range"));
}

TEST(ConfigTest, BadEnumNamesKeyValueAndChoices) {
  Status s = ParseError("[network]\nmode = \"bridged\"\n");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(
      s.message(),
      "config.toml: network.mode = \"bridged\" is not allowed; use one of isolated, nat, host");
}

TEST(ConfigTest, TcgTranslationCacheDefaultsTo32MibAndIsBounded) {
  Result<Config> c = ParseConfig("", "config.toml");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->vm.tcg_tb_mib, 32);
  c = ParseConfig("[vm]\ntcg_tb_mib = 0\n", "config.toml");  // QEMU's own default
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->vm.tcg_tb_mib, 0);
  EXPECT_THAT(ParseError("[vm]\ntcg_tb_mib = 2048\n").message(), HasSubstr("vm.tcg_tb_mib"));
}

TEST(ConfigTest, UpstreamsTakeAddressesWithOrWithoutPort) {
  Result<Config> c = ParseConfig("[dns]\nupstreams = \"192.0.2.53  192.0.2.54:5353\"\n", "config.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dns.upstreams, "192.0.2.53  192.0.2.54:5353");
}

TEST(ConfigTest, WebDefaultsToLoopback) {
  Result<Config> c = ParseConfig("", "config.toml");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->web.enabled);
  EXPECT_EQ(c->web.listen, "127.0.0.1:7780");
  EXPECT_FALSE(c->web.allow_remote);
  Result<Config> any_port = ParseConfig("[web]\nlisten = \"127.0.0.1:0\"\n", "config.toml");
  ASSERT_TRUE(any_port.ok()) << any_port.status().ToString();
}

TEST(ConfigTest, WebRemoteListenNeedsAllowRemote) {
  EXPECT_THAT(ParseError("[web]\nlisten = \"0.0.0.0:7780\"\n").message(),
              AllOf(HasSubstr("web.listen = \"0.0.0.0:7780\""), HasSubstr("web.allow_remote")));
  Result<Config> c =
      ParseConfig("[web]\nlisten = \"0.0.0.0:7780\"\nallow_remote = true\n", "config.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->web.allow_remote);
  EXPECT_THAT(ParseError("[web]\nlisten = \"localhost\"\n").message(),
              HasSubstr("web.listen"));
}

TEST(ConfigTest, UnknownKey) {
  Status s = ParseError("[rpc]\nmax_conections = 3\n");
  EXPECT_THAT(s.message(), HasSubstr("config.toml: unknown key rpc.max_conections"));
  EXPECT_THAT(s.message(), HasSubstr("max_connections"));
}

TEST(ConfigTest, UnknownTable) {
  Status s = ParseError("[netwrok]\nmode = \"nat\"\n");
  EXPECT_THAT(s.message(), HasSubstr("unknown table [netwrok]; known tables: daemon, rpc, vm"));
}

TEST(ConfigTest, UnknownTopLevelKey) {
  Status s = ParseError("log_level = \"info\"\n");
  EXPECT_THAT(s.message(), HasSubstr("unknown key log_level"));
}

TEST(ConfigTest, TableGivenAsValue) {
  Status s = ParseError("rpc = 3\n");
  EXPECT_THAT(s.message(), HasSubstr("rpc = 3 has the wrong type; expected a table [rpc]"));
}

TEST(ConfigTest, WrongTypes) {
  EXPECT_THAT(ParseError("[rpc]\nmax_connections = \"many\"\n").message(),
              HasSubstr("rpc.max_connections = \"many\" has the wrong type; expected an integer"));
  EXPECT_THAT(ParseError("[dns]\nenabled = \"yes\"\n").message(),
              HasSubstr("dns.enabled = \"yes\" has the wrong type; expected true or false"));
  EXPECT_THAT(ParseError("[vm]\nqemu_binary = 5\n").message(),
              HasSubstr("vm.qemu_binary = 5 has the wrong type; expected a string"));
  EXPECT_THAT(ParseError("[vm]\ndefault_cpus = 1.5\n").message(), HasSubstr("expected an integer"));
}

TEST(ConfigTest, OutOfRange) {
  EXPECT_THAT(ParseError("[rpc]\nmax_frame_bytes = 100\n").message(),
              HasSubstr("rpc.max_frame_bytes = 100 is out of range; use 4096..67108864"));
  EXPECT_THAT(ParseError("[vm]\ndefault_cpus = 0\n").message(),
              HasSubstr("vm.default_cpus = 0 is out of range; use 1..64"));
  EXPECT_THAT(ParseError("[network]\ntap_pool_size = 65\n").message(), HasSubstr("0..64"));
}

TEST(ConfigTest, BadCidr) {
  EXPECT_THAT(ParseError("[network]\nsubnet = \"10.77.0.0\"\n").message(),
              HasSubstr("network.subnet = \"10.77.0.0\" is not a valid IPv4 CIDR"));
  EXPECT_THAT(ParseError("[network]\nsubnet = \"10.300.0.0/24\"\n").message(),
              HasSubstr("not a valid IPv4 CIDR"));
  EXPECT_THAT(ParseError("[network]\nsubnet = \"10.0.0.0/8\"\n").message(),
              HasSubstr("prefix outside 16..29"));
  EXPECT_THAT(ParseError("[network]\nsubnet = \"10.0.0.0/30\"\n").message(),
              HasSubstr("prefix outside 16..29"));
  EXPECT_THAT(ParseError("[network]\nsubnet = \"10.77.0.5/24\"\n").message(),
              HasSubstr("host bits set; use the network address 10.77.0.0/24"));
  EXPECT_THAT(ParseError("[network]\nsubnet = \"1.2.3.4.5/24\"\n").message(),
              HasSubstr("not a valid IPv4 CIDR"));
}

TEST(ConfigTest, BadStrings) {
  EXPECT_THAT(ParseError("[network]\nbridge = \"averyveryverylongname\"\n").message(),
              HasSubstr("not a valid interface name"));
  EXPECT_THAT(ParseError("[dns]\ndomain = \"-bad.internal\"\n").message(),
              HasSubstr("not a valid DNS name"));
  EXPECT_THAT(ParseError("[dns]\nhost_listen = \"127.0.0.1\"\n").message(),
              HasSubstr("is not IPV4:PORT"));
  EXPECT_THAT(ParseError("[dns]\nhost_listen = \"[::1]:53\"\n").message(),
              HasSubstr("is not IPV4:PORT"));
  EXPECT_THAT(ParseError("[dns]\nhost_listen = \"127.0.0.1:65536\"\n").message(),
              HasSubstr("is not IPV4:PORT"));
  EXPECT_THAT(ParseError("[dns]\nupstreams = \"192.0.2.53 dns.example\"\n").message(),
              HasSubstr("has \"dns.example\", which is not IPV4 or IPV4:PORT"));
  EXPECT_THAT(ParseError("[dns]\nupstreams = \"192.0.2.53:0\"\n").message(),
              HasSubstr("which is not IPV4 or IPV4:PORT"));
  EXPECT_THAT(ParseError("[images]\nmirror = \"ftp://x\"\n").message(),
              HasSubstr("not an http:// or https:// URL"));
  EXPECT_THAT(ParseError("[rpc]\nsocket_group = \"Bad Group\"\n").message(),
              HasSubstr("not a valid group name"));
  EXPECT_THAT(ParseError("[network]\nnamespace = \"a/b\"\n").message(),
              HasSubstr("not a valid network namespace name"));
}

TEST(ConfigTest, ReportsEveryProblem) {
  Status s = ParseError("[vm]\ndefault_cpus = 0\naccelerator = \"xen\"\n");
  EXPECT_THAT(s.message(), HasSubstr("vm.default_cpus"));
  EXPECT_THAT(s.message(), HasSubstr("vm.accelerator = \"xen\""));
}

TEST(ConfigTest, SyntaxErrorNamesLine) {
  Status s = ParseError("[vm]\ndefault_cpus = = 2\n");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("config.toml:2:"));
}

class LoadConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("warren_config_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(LoadConfigTest, MissingFileIsDefaults) {
  Result<Config> c = LoadConfig(dir_ / "absent.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*c, Config{});
}

TEST_F(LoadConfigTest, ReadsFileAndNamesItInErrors) {
  std::filesystem::path file = dir_ / "config.toml";
  std::ofstream(file) << "[vm]\ndefault_cpus = 4\n";
  Result<Config> c = LoadConfig(file);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->vm.default_cpus, 4);

  std::ofstream(file) << "[vm]\ndefault_cpus = 400\n";
  Result<Config> bad = LoadConfig(file);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr(file.string() + ": vm.default_cpus = 400"));
}

}  // namespace
}  // namespace warren
