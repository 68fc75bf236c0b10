#include <gtest/gtest.h>

#include <fstream>

#include "caps/share.h"
#include "caps/ssh_key.h"
#include "caps/user_data.h"
#include "caps/yaml_json.h"
#include "image/ssh_key.h"
#include "sys/test_util.h"
#include "vm/qemu/argv.h"
#include "vm/vm_manager.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// A real key line, made as the daemon makes its own.
std::string NewKey(const std::string& comment) {
  Result<SshKeyPair> pair = GenerateEd25519KeyPair(comment);
  EXPECT_TRUE(pair.ok());
  return pair.ok() ? pair->public_key : "";
}

CreateRequest Req(std::string image = "base") { return CreateRequest{"web", std::move(image)}; }

TEST(SshKeyCapabilityTest, AcceptsPublicKeysAndRefusesAnythingElse) {
  SshKeyCapability cap;
  std::string a = NewKey("alice@laptop"), b = NewKey("bob");
  Result<json> ok = cap.Validate(json{"  " + a + "\r", b}, Req());
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(*ok, (json{a, b}));  // trimmed

  std::string blob = a.substr(12, a.find(' ', 12) - 12);
  for (const json& bad :
       {json::array(), json("ssh-ed25519 AAAA"), json{"ssh-ed25519"}, json{"nonsense AAAA x"},
        json{"ssh-ed25519 not!base64"}, json{"ssh-rsa " + blob},  // blob says ed25519
        json{"from=\"10.0.0.1\" " + a}, json{"-----BEGIN OPENSSH PRIVATE KEY-----"},
        json{a + "\n" + b}, json{1}}) {
    Result<json> r = cap.Validate(bad, Req());
    EXPECT_FALSE(r.ok()) << bad.dump();
    if (!r.ok()) EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << r.error().ToString();
  }
}

TEST(SshKeyCapabilityTest, SeedsTheKeysAndDescribesFingerprints) {
  SshKeyCapability cap;
  std::string a = NewKey("alice@laptop");
  VmRecord rec;
  SeedSpec seed;
  ASSERT_TRUE(cap.ContributeSeed(CapVm{rec, "/x"}, json{a}, seed).ok());
  EXPECT_EQ(seed.extra_authorized_keys, std::vector<std::string>{a});
  json d = cap.Describe(json{a});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["type"], "ssh-ed25519");
  EXPECT_EQ(d[0]["comment"], "alice@laptop");
  // What ssh-keygen -lf says of the same key.
  TempDir dir;
  std::ofstream(dir.path() / "k.pub") << a << "\n";
  RealRunner runner;
  RunSpec run;
  run.argv = {"ssh-keygen", "-lf", (dir.path() / "k.pub").string()};
  Result<RunResult> out = runner.Run(run, {});
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->out.find(d[0]["fingerprint"].get<std::string>() + " "), std::string::npos)
      << out->out << " vs " << d[0]["fingerprint"];
}

// What the share capability asked of its virtiofsd seam.
class RecordingServers final : public ShareServers {
 public:
  Status Start(const VirtiofsdSpec& spec) override {
    started.push_back(spec);
    return spec.tag == fail_tag ? FailedPrecondition("share " + spec.tag + ": no virtiofsd")
                                : Status::Ok();
  }
  void Stop(const VirtiofsdSpec& spec) override { stopped.push_back(spec.tag); }
  std::vector<VirtiofsdSpec> started;
  std::vector<std::string> stopped;
  std::string fail_tag;
};

TEST(ShareCapabilityTest, ValidatesHostAndGuestFolders) {
  ShareCapability cap(std::make_unique<RecordingServers>());
  TempDir dir;
  fs::create_directories(dir.path() / "src");
  std::ofstream(dir.path() / "file") << "x";
  const std::string src = fs::canonical(dir.path() / "src").string();
  Result<json> ok = cap.Validate(json{src + ":/mnt/src", src + "/../src:/data:ro"}, Req());
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(*ok, (json{{{"tag", "warren0"}, {"host", src}, {"guest", "/mnt/src"}, {"ro", false}},
                       {{"tag", "warren1"}, {"host", src}, {"guest", "/data"}, {"ro", true}}}));

  EXPECT_EQ(cap.Validate(json{(dir.path() / "missing").string() + ":/m"}, Req()).error().code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(cap.Validate(json{(dir.path() / "file").string() + ":/m"}, Req()).error().code(),
            Code::kFailedPrecondition);
  for (const json& bad : {json{"relative:/m"}, json{src}, json{src + ":relative"},
                          json{src + ":/"}, json{src + ":/a b"}, json{src + ":/a/../b"},
                          json{src + ":/m", src + ":/m"}, json::array(), json("x")}) {
    Result<json> r = cap.Validate(bad, Req());
    EXPECT_FALSE(r.ok()) << bad.dump();
    if (!r.ok()) EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << bad.dump();
  }
}

TEST(ShareCapabilityTest, StartsOneVirtiofsdPerShareAndAddsVhostUserDevicesGolden) {
  auto owned = std::make_unique<RecordingServers>();
  RecordingServers* servers = owned.get();
  ShareCapability cap(std::move(owned));
  TempDir dir;
  const std::string host = dir.path().string();
  json settings = {{{"tag", "warren0"}, {"host", host}, {"guest", "/mnt/src"}, {"ro", false}},
                   {{"tag", "warren1"}, {"host", host}, {"guest", "/data"}, {"ro", true}}};
  VmRecord rec;
  SeedSpec seed;
  ASSERT_TRUE(cap.ContributeSeed(CapVm{rec, "/x"}, settings, seed).ok());
  ASSERT_EQ(seed.mounts.size(), 2u);
  EXPECT_EQ(seed.mounts[1].tag, "warren1");
  EXPECT_EQ(seed.mounts[1].guest_dir, "/data");
  EXPECT_TRUE(seed.mounts[1].ro);

  VmSpec spec;
  spec.name = "web";
  spec.memory_mib = 768;
  spec.serial_log = "/tmp/s.log";
  spec.qmp_socket = "/tmp/q.sock";
  ASSERT_TRUE(cap.ContributeQemu(CapVm{rec, "/vms/web"}, settings, spec).ok());
  ASSERT_TRUE(ValidateVmSpec(spec).ok());
  ASSERT_EQ(servers->started.size(), 2u);
  const VirtiofsdSpec& ro = servers->started[1];
  EXPECT_EQ(ro.tag, "warren1");
  EXPECT_EQ(ro.source, host);
  EXPECT_TRUE(ro.ro);
  EXPECT_FALSE(servers->started[0].ro);
  EXPECT_EQ(ro.socket, "/vms/web/vfs-warren1.sock");
  EXPECT_EQ(ro.pid_file, "/vms/web/virtiofsd-warren1.pid");
  EXPECT_EQ(ro.log, "/vms/web/virtiofsd-warren1.log");

  std::vector<std::string> argv = BuildQemuArgv(spec);
  std::string joined;
  for (const std::string& a : argv) joined += a + " ";
  EXPECT_NE(joined.find("-object memory-backend-memfd,id=ram0,size=768M,share=on -machine "
                        "q35,i8042=off,sata=off,smbus=off,usb=off,vmport=off,memory-backend=ram0 "),
            std::string::npos)
      << joined;
  EXPECT_NE(joined.find("-chardev socket,id=vfs0,path=/vms/web/vfs-warren0.sock -device "
                        "vhost-user-fs-pci,chardev=vfs0,tag=warren0 -chardev "
                        "socket,id=vfs1,path=/vms/web/vfs-warren1.sock -device "
                        "vhost-user-fs-pci,chardev=vfs1,tag=warren1 "),
            std::string::npos)
      << joined;

  // Stop and delete stop every share's virtiofsd.
  cap.OnStop(CapVm{rec, "/vms/web"}, settings);
  cap.OnDelete(CapVm{rec, "/vms/web"}, settings);
  EXPECT_EQ(servers->stopped, (std::vector<std::string>{"warren0", "warren1", "warren0", "warren1"}));

  // The folder went away between create and a boot: the boot says so.
  json gone = {{{"tag", "warren0"}, {"host", host + "/nope"}, {"guest", "/m"}, {"ro", false}}};
  VmSpec other = spec;
  other.shares.clear();
  EXPECT_EQ(cap.ContributeQemu(CapVm{rec, "/x"}, gone, other).code(), Code::kFailedPrecondition);
  // A virtiofsd that does not start fails the boot, and the ones started are stopped.
  servers->stopped.clear();
  servers->fail_tag = "warren1";
  Status st = cap.ContributeQemu(CapVm{rec, "/x"}, settings, other);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.ToString().find("warren1"), std::string::npos) << st.ToString();
  EXPECT_EQ(servers->stopped, (std::vector<std::string>{"warren0", "warren1"}));
}

TEST(QemuArgvTest, AVmWithoutSharesKeepsPrivateRam) {
  VmSpec spec;
  spec.name = "web";
  spec.serial_log = "/tmp/s.log";
  spec.qmp_socket = "/tmp/q.sock";
  std::string joined;
  for (const std::string& a : BuildQemuArgv(spec)) joined += a + " ";
  EXPECT_EQ(joined.find("memory-backend"), std::string::npos) << joined;
  EXPECT_EQ(joined.find("vhost-user"), std::string::npos) << joined;
}

TEST(VirtiofsdArgvTest, Golden) {
  VirtiofsdSpec spec;
  spec.tag = "warren0";
  spec.source = "/srv/a b";
  spec.socket = "/vms/web/vfs-warren0.sock";
  spec.socket_group = "kvm";
  EXPECT_EQ(VirtiofsdArgv("/usr/lib/qemu/virtiofsd", spec),
            (std::vector<std::string>{"/usr/lib/qemu/virtiofsd",
                                      "--socket-path=/vms/web/vfs-warren0.sock",
                                      "--socket-group=kvm", "-o", "source=/srv/a b", "-o",
                                      "cache=auto"}));
  spec.ro = true;
  spec.socket_group.clear();
  EXPECT_EQ(VirtiofsdArgv("/usr/lib/qemu/virtiofsd", spec),
            (std::vector<std::string>{
                "/usr/bin/unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                "mount --bind -o ro -- \"$1\" \"$1\" && shift && exec \"$@\"",
                "warren-share-ro", "/srv/a b", "/usr/lib/qemu/virtiofsd",
                "--socket-path=/vms/web/vfs-warren0.sock", "-o", "source=/srv/a b", "-o",
                "cache=auto"}));
}

// A guest connection answering user-data's status and output commands.
class ScriptedConnection final : public GuestConnection {
 public:
  explicit ScriptedConnection(int* polls, int done_after) : polls_(polls), done_after_(done_after) {}
  Result<ExecResult> Exec(const std::vector<std::string>& argv, std::string_view,
                          std::stop_token) override {
    const std::string& cmd = argv.back();
    if (cmd.find("user-data.status") != std::string::npos) {
      if (++*polls_ < done_after_) return ExecResult{1, "", ""};
      return ExecResult{0, "3\n", ""};
    }
    if (cmd.find("warren-user-data.log") != std::string::npos) return ExecResult{0, "hello\n", ""};
    return ExecResult{127, "", "unexpected"};
  }

 private:
  int* polls_;
  int done_after_;
};

class ScriptedDialer final : public GuestDialer {
 public:
  Result<std::unique_ptr<GuestConnection>> Dial(const GuestEndpoint& ep,
                                                std::chrono::milliseconds) override {
    dialed = ep;
    return std::unique_ptr<GuestConnection>(new ScriptedConnection(&polls, 3));
  }
  Result<std::unique_ptr<GuestConnection>> WaitForSsh(const GuestEndpoint& ep,
                                                      std::chrono::steady_clock::time_point,
                                                      std::stop_token) override {
    return Dial(ep, {});
  }
  GuestEndpoint dialed;
  int polls = 0;
};

UserDataCapability MakeUserData(ScriptedDialer* dialer, bool cloud_init) {
  return UserDataCapability(
      [cloud_init](std::string_view image) -> Result<json> {
        if (image != "base") return NotFound("no image " + std::string(image));
        return json{{"cloud_init", cloud_init}};
      },
      dialer, "PRIVATE", std::chrono::seconds(10), std::chrono::milliseconds(1));
}

TEST(UserDataCapabilityTest, ScriptsAndCloudConfigAreCheckedAgainstTheImage) {
  ScriptedDialer dialer;
  UserDataCapability plain = MakeUserData(&dialer, false);
  Result<json> script = plain.Validate("#!/bin/sh\necho hi\n", Req());
  ASSERT_TRUE(script.ok());
  EXPECT_EQ(*script, (json{{"kind", "script"}, {"script", "#!/bin/sh\necho hi\n"}}));
  Result<json> refused = plain.Validate("#cloud-config\npackages: [curl]\n", Req());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.error().message().find("has no cloud-init"), std::string::npos);
  EXPECT_EQ(plain.Validate("echo no shebang\n", Req()).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(plain.Validate(json{1}, Req()).error().code(), Code::kInvalidArgument);

  UserDataCapability cloud = MakeUserData(&dialer, true);
  Result<json> cc = cloud.Validate(
      "#cloud-config\npackage_update: yes\npackages: [curl, 'on']\nruncmd:\n  - [touch, /x]\n"
      "write_files:\n  - path: /etc/x\n    permissions: '0644'\n    content: |\n      hi\n",
      Req());
  ASSERT_TRUE(cc.ok()) << cc.error().ToString();
  EXPECT_EQ((*cc)["config"],
            (json{{"package_update", true},
                  {"packages", {"curl", "on"}},
                  {"runcmd", json::array({json::array({"touch", "/x"})})},
                  {"write_files", {{{"path", "/etc/x"}, {"permissions", "0644"}, {"content", "hi\n"}}}}}));
  EXPECT_EQ(cloud.Validate("#cloud-config\n- a list\n", Req()).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(cloud.Validate("#cloud-config\na: [unclosed\n", Req()).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(cloud.Validate("#cloud-config\n", Req("other")).error().code(), Code::kNotFound);
}

TEST(UserDataCapabilityTest, OnReadyWaitsForTheScriptAndKeepsItsResult) {
  ScriptedDialer dialer;
  UserDataCapability cap = MakeUserData(&dialer, false);
  TempDir dir;
  std::ofstream(dir.path() / "host_key.pub") << "ssh-ed25519 AAAAhost\n";
  VmRecord rec;
  rec.name = "web";
  rec.ip = "10.77.0.2";
  CapVm vm{rec, dir.path()};
  json settings = {{"kind", "script"}, {"script", "#!/bin/sh\nexit 3\n"}};
  EXPECT_EQ(cap.DescribeVm(vm, settings), (json{{"kind", "script"}, {"state", "pending"}}));
  ASSERT_TRUE(cap.OnReady(vm, settings).ok());
  EXPECT_EQ(dialer.dialed.ip, "10.77.0.2");
  EXPECT_EQ(dialer.dialed.host_public_key, "ssh-ed25519 AAAAhost");
  EXPECT_EQ(dialer.polls, 3);  // polled until the guest wrote its status
  EXPECT_EQ(cap.DescribeVm(vm, settings),
            (json{{"kind", "script"}, {"state", "done"}, {"exit_status", 3}, {"output", "hello\n"}}));
  // Later boots do not ask again.
  ASSERT_TRUE(cap.OnReady(vm, settings).ok());
  EXPECT_EQ(dialer.polls, 3);
}

TEST(YamlToJsonTest, ResolvesPlainScalarsLikeYaml11) {
  Result<json> j = YamlToJson("a: 1\nb: -2.5\nc: ~\nd: 'quoted 1'\ne: off\nf: 0644\ng: x y\n");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(*j, (json{{"a", 1}, {"b", -2.5}, {"c", nullptr}, {"d", "quoted 1"}, {"e", false},
                      {"f", 420}, {"g", "x y"}}));
  Result<json> alias = YamlToJson("base: &b {x: 1}\nother: *b\n");
  ASSERT_TRUE(alias.ok());
  EXPECT_EQ((*alias)["other"], (json{{"x", 1}}));
}

}  // namespace
}  // namespace warren
