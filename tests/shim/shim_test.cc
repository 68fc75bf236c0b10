#include <gtest/gtest.h>

#include "shim/daemon_calls.h"
#include "shim/guest_process.h"
#include "shim/pod.h"
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


json Annotated(const char* type, const char* sandbox) {
  json a = json::object();
  if (type) a[kContainerTypeAnnotation] = type;
  if (sandbox) a[kSandboxIdAnnotation] = sandbox;
  return {{"process", {{"args", {"/pause"}}}}, {"annotations", a}};
}

TEST(ShimPod, WithoutCriAnnotationsATaskHasItsOwnVm) {
  for (const json& spec : {json::object(), json{{"annotations", {{"x", "y"}}}},
                           json{{"annotations", "not-an-object"}}, Annotated("weird", "p1"),
                           Annotated("container", nullptr), Annotated("container", "c1"),
                           Annotated("container", "../p1")}) {
    Placement p = PlaceTask("default", "c1", spec);
    EXPECT_EQ(p.kind, Placement::Kind::kOwnVm) << spec.dump();
    EXPECT_EQ(p.vm, "ctr-default-c1");
    EXPECT_EQ(p.guest_root, kGuestRoot);
    EXPECT_TRUE(p.owns_vm());
    EXPECT_EQ(p.pod_dir(), "");
  }
}

TEST(ShimPod, ASandboxOwnsThePodsVmAndItsContainersRunInIt) {
  Placement sandbox = PlaceTask("k8s.io", "p1", Annotated("sandbox", "p1"));
  EXPECT_EQ(sandbox.kind, Placement::Kind::kSandbox);
  EXPECT_EQ(sandbox.vm, "ctr-k8s-io-p1");
  EXPECT_EQ(sandbox.guest_root, kGuestRoot);
  EXPECT_TRUE(sandbox.owns_vm());
  EXPECT_EQ(sandbox.pod_dir(), std::string(kPodsDir) + "/ctr-k8s-io-p1");

  Placement c = PlaceTask("k8s.io", "c1", Annotated("container", "p1"));
  EXPECT_EQ(c.kind, Placement::Kind::kContainer);
  EXPECT_EQ(c.vm, sandbox.vm);
  EXPECT_EQ(c.sandbox_id, "p1");
  EXPECT_FALSE(c.owns_vm());
  EXPECT_EQ(c.pod_dir(), sandbox.pod_dir());
  EXPECT_EQ(c.guest_root, std::string(kGuestPodDir) + "/c1");
}

TEST(ShimPod, ASandboxVmIsSizedFromThePodsAnnotations) {
  json spec = Annotated("sandbox", "p1");
  spec["annotations"]["io.kubernetes.cri.sandbox-cpu-quota"] = "150000";
  spec["annotations"]["io.kubernetes.cri.sandbox-cpu-period"] = "100000";
  spec["annotations"]["io.kubernetes.cri.sandbox-memory"] = "402653184";  // 384 MiB
  VmSize s = SizeForSandbox(spec);
  EXPECT_EQ(s.cpus, 2);
  EXPECT_EQ(s.memory_mib, kMinMemoryMib + 384);
  // kubelet < 1.23 sends none (or quota 0): the sandbox's own spec, else the daemon's default.
  spec["annotations"]["io.kubernetes.cri.sandbox-cpu-quota"] = "0";
  spec["annotations"]["io.kubernetes.cri.sandbox-memory"] = "lots";
  s = SizeForSandbox(spec);
  EXPECT_EQ(s.cpus, 0);
  EXPECT_EQ(s.memory_mib, 0);
  spec["annotations"]["io.kubernetes.cri.sandbox-memory"] = "9223372036854775807";
  spec["annotations"]["io.kubernetes.cri.sandbox-cpu-quota"] = "9223372036854775807";
  spec["annotations"]["io.kubernetes.cri.sandbox-cpu-period"] = "1";
  s = SizeForSandbox(spec);
  EXPECT_EQ(s.cpus, 1024);
  EXPECT_EQ(s.memory_mib, kMinMemoryMib + (1 << 24));
}

}  // namespace
}  // namespace warren::shim
