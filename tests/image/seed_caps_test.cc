// The seed's capability fields (SeedSpec's second half): warren.env lines,
// the cloud-config merge (golden), validation.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "image/digest.h"
#include "image/seed.h"

namespace warren {
namespace {

using json = nlohmann::json;

SeedSpec Spec() {
  SeedSpec s;
  s.instance_id = "vm-1";
  s.hostname = "web1";
  s.ip = "10.77.0.2";
  s.gateway = "10.77.0.1";
  s.dns = "10.77.0.1";
  s.authorized_key = "ssh-ed25519 AAAAdaemon warren";
  Result<Ed25519Key> key = Ed25519Key::FromSeed(std::string(32, '\x01'), "web1");
  EXPECT_TRUE(key.ok());
  s.host_key = *key;
  return s;
}

// warren's own bootcmd entry whenever the seed names a DNS server (seed.cc,
// AddCloudResolvConf; its behaviour on a guest: StockCloudImageE2eTest).
json ResolvConfEntry(const std::string& dns, const std::string& search) {
  return {"sh", "-c",
          "{ [ -L /etc/resolv.conf ] || command -v resolvconf >/dev/null; } && exit 0; "
          "{ echo \"nameserver $1\"; [ -z \"$2\" ] || echo \"search $2\"; } "
          ">/etc/resolv.conf.warren && mv /etc/resolv.conf.warren /etc/resolv.conf",
          "warren-resolv-conf", dns, search};
}

json CloudConfigOf(const SeedSpec& s) {
  std::string text = SeedFiles(s).at("user-data");
  EXPECT_EQ(text.rfind("#cloud-config\n", 0), 0u);
  return json::parse(text.substr(14));
}

TEST(SeedCapsTest, WarrenEnvCarriesKeysMountsAndEnvAfterWarrensOwn) {
  SeedSpec s = Spec();
  s.extra_authorized_keys = {"ssh-ed25519 AAAAalice alice", "ssh-rsa AAAAbob bob"};
  s.mounts = {{"warren0", "/mnt/src", false}, {"warren1", "/data", true}};
  s.env = {{"EGRESS", "none"}};
  ASSERT_TRUE(ValidateSeedSpec(s).ok());
  std::string env = SeedFiles(s).at("warren.env");
  const std::string tail =
      "HOST_KEY_ED25519_PUB=" + s.host_key->OpensshPublicLine() +
      "\n"
      "AUTHORIZED_KEY_EXTRA=ssh-ed25519 AAAAalice alice\n"
      "AUTHORIZED_KEY_EXTRA=ssh-rsa AAAAbob bob\n"
      "MOUNT_VIRTIOFS=warren0:rw:/mnt/src\n"
      "MOUNT_VIRTIOFS=warren1:ro:/data\n"
      "EGRESS=none\n";
  ASSERT_GE(env.size(), tail.size());
  EXPECT_EQ(env.substr(env.size() - tail.size()), tail);
  EXPECT_EQ(env.find("AUTHORIZED_KEY=ssh-ed25519 AAAAdaemon warren\n") < env.find("AUTHORIZED_KEY_EXTRA"),
            true);
}

TEST(SeedCapsTest, CloudConfigMergeGolden) {
  SeedSpec s = Spec();
  s.extra_authorized_keys = {"ssh-ed25519 AAAAalice alice"};
  s.mounts = {{"warren0", "/data", true}};
  s.cloud_config = {
      {"hostname", "mine"},  // warren's wins
      {"packages", {"curl"}},
      {"users", {"default", {{"name", "root"}, {"lock_passwd", false}}, {{"name", "dev"}}}},
      {"ssh_authorized_keys", {"ssh-ed25519 AAAAuser u"}},
      {"runcmd", json::array({json::array({"touch", "/x"})})},
      {"bootcmd", {"echo early"}},
      {"timezone", "Europe/Paris"},
  };
  json c = CloudConfigOf(s);
  json want = {
      {"hostname", "web1"},
      {"disable_root", false},
      {"ssh_pwauth", false},
      {"users",
       {"default",
        {{"name", "dev"}},
        {{"name", "root"},
         {"ssh_authorized_keys", {"ssh-ed25519 AAAAdaemon warren", "ssh-ed25519 AAAAalice alice"}}}}},
      {"ssh_deletekeys", true},
      {"ssh_keys",
       {{"ed25519_private", s.host_key->OpensshPrivateFile()},
        {"ed25519_public", s.host_key->OpensshPublicLine()}}},
      {"bootcmd",
       {"echo early",
        ResolvConfEntry("10.77.0.1", ""),
        {"modprobe", "virtiofs"},
        {"mkdir", "-p", "/data"},
        {"mount", "-t", "virtiofs", "-o", "ro", "warren0", "/data"}}},
      {"packages", {"curl"}},
      {"ssh_authorized_keys", {"ssh-ed25519 AAAAuser u"}},
      {"runcmd", json::array({json::array({"touch", "/x"})})},
      {"timezone", "Europe/Paris"},
  };
  EXPECT_EQ(c, want) << c.dump(2);
}

TEST(SeedCapsTest, WithoutCapabilityFieldsTheCloudConfigIsUnchanged) {
  json c = CloudConfigOf(Spec());
  EXPECT_EQ(c["bootcmd"], json::array({ResolvConfEntry("10.77.0.1", "")})) << c.dump(2);
  EXPECT_EQ(c["users"][0]["ssh_authorized_keys"], (json{"ssh-ed25519 AAAAdaemon warren"}));
}

TEST(SeedCapsTest, RefusesBadCapabilityFields) {
  auto bad = [](auto mutate, const char* field) {
    SeedSpec s = Spec();
    mutate(s);
    Status st = ValidateSeedSpec(s);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << field;
    EXPECT_NE(st.message().find(field), std::string::npos) << st.ToString();
  };
  bad([](SeedSpec& s) { s.extra_authorized_keys = {"ssh-ed25519 A\nB"}; }, "extra_authorized_keys");
  bad([](SeedSpec& s) { s.cloud_config = json::array(); }, "cloud_config");
  bad([](SeedSpec& s) { s.mounts = {{"bad tag", "/m", false}}; }, "mounts.tag");
  bad([](SeedSpec& s) { s.mounts = {{"t", "relative", false}}; }, "mounts.guest_dir");
  bad([](SeedSpec& s) { s.mounts = {{"t", "/a b", false}}; }, "mounts.guest_dir");
  bad([](SeedSpec& s) { s.mounts = {{"t", "/m", false}, {"u", "/m", true}}; }, "mounts.guest_dir");
  bad([](SeedSpec& s) { s.env = {{"AUTHORIZED_KEY", "x"}}; }, "env");
  bad([](SeedSpec& s) { s.env = {{"lower", "x"}}; }, "env");
  bad([](SeedSpec& s) { s.env = {{"OK", "two\nlines"}}; }, "env");
}

}  // namespace
}  // namespace warren
