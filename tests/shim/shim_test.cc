#include <gtest/gtest.h>

#include "shim/daemon_calls.h"
#include "shim/guest_process.h"
#include "shim/task_service.h"

namespace warren::shim {
namespace {

using nlohmann::json;

TEST(ShimSpec, ParsesTheOciProcess) {
  auto p = ParseOciProcess(json::parse(R"({"args":["/bin/echo","hi"],"env":["PATH=/bin"],
      "cwd":"/work","terminal":true,"user":{"uid":1000,"gid":100}})"));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->args, (std::vector<std::string>{"/bin/echo", "hi"}));
  EXPECT_EQ(p->cwd, "/work");
  EXPECT_TRUE(p->terminal);
  EXPECT_EQ(p->uid, 1000u);
  EXPECT_EQ(p->gid, 100u);
  EXPECT_FALSE(ParseOciProcess(json::parse(R"({"args":[]})")).ok());
  EXPECT_FALSE(ParseOciProcess(json::parse(R"({"args":[1]})")).ok());
  EXPECT_FALSE(ParseOciProcess(json::parse(R"([])")).ok());
}

TEST(ShimSpec, GuestArgvChrootsWithOnlyTheSpecsEnvironment) {
  ProcessSpec s;
  s.args = {"/bin/echo", "hi"};
  s.env = {"PATH=/bin"};
  EXPECT_EQ(GuestArgv(s, "/mnt/r"),
            (std::vector<std::string>{"/usr/bin/env", "-i", "PATH=/bin", "/usr/sbin/chroot",
                                      "--userspec=0:0", "/mnt/r", "/bin/echo", "hi"}));
  s.cwd = "/w";
  s.uid = 5;
  s.gid = 6;
  EXPECT_EQ(GuestArgv(s, "/mnt/r"),
            (std::vector<std::string>{"/usr/bin/env", "-i", "PATH=/bin", "/usr/sbin/chroot",
                                      "--userspec=5:6", "/mnt/r", "/bin/sh", "-c",
                                      "cd \"$0\" && exec \"$@\"", "/w", "/bin/echo", "hi"}));
}

TEST(ShimSpec, VmSizeFromLimits) {
  auto spec = json::parse(R"({"linux":{"resources":{"cpu":{"quota":150000,"period":100000},
      "memory":{"limit":1073741824}}}})");
  VmSize s = SizeFromOciSpec(spec);
  EXPECT_EQ(s.cpus, 2);
  EXPECT_EQ(s.memory_mib, 1024);
  s = SizeFromOciSpec(json::parse(R"({"linux":{"resources":{"memory":{"limit":1048576}}}})"));
  EXPECT_EQ(s.memory_mib, kMinMemoryMib);
  s = SizeFromOciSpec(json::object());
  EXPECT_EQ(s.cpus, 0);
  EXPECT_EQ(s.memory_mib, 0);
}

TEST(ShimSpec, VmNamesAreDnsLabels) {
  EXPECT_EQ(VmNameFor("default", "t1"), "ctr-default-t1");
  EXPECT_EQ(VmNameFor("k8s.io", "Pod_A"), "ctr-k8s-io-pod-a");
  std::string long_id(64, 'a');
  EXPECT_EQ(VmNameFor("k8s.io", long_id).size(), 63u);
}

}  // namespace
}  // namespace warren::shim
