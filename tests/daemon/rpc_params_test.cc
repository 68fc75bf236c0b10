// Every method of the daemon's table, called over its socket with wrong types,
// missing fields, huge values and unknown fields for each declared parameter:
// each call is refused with InvalidArgument (JSON-RPC -32602) naming the field,
// and the daemon answers the next call. The methods come from the daemon's own
// `rpc.methods`, so a new method is probed without touching this file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "daemon/daemon.h"
#include "fakes/fake_daemon_deps.h"
#include "rpc/client.h"
#include "rpc/dispatcher.h"
#include "rpc/params.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

DaemonDeps FakeDeps() {
  FakeDaemonDeps fakes(KvmState::kPvm);
  return std::move(fakes.deps);
}

// One value of each JSON type; a probe sends those its parameter's type refuses.
const std::vector<json>& EveryType() {
  static const std::vector<json> all = {json("s"),        json(1),           json(1.5),
                                        json(true),       json::array(),     json::object(),
                                        json({"x", "y"}), json({{"k", "v"}}), json({1, 2})};
  return all;
}

bool Fits(const std::string& type, const json& v) {
  if (type == "string") return v.is_string();
  if (type == "integer") return v.is_number_integer();
  if (type == "boolean") return v.is_boolean();
  if (type == "array of strings") {
    if (!v.is_array()) return false;
    for (const json& i : v) {
      if (!i.is_string()) return false;
    }
    return true;
  }
  if (type == "object of strings") {
    if (!v.is_object()) return false;
    for (const auto& [k, i] : v.items()) {
      if (!i.is_string()) return false;
    }
    return true;
  }
  if (type == "object") return v.is_object();
  ADD_FAILURE() << "a parameter type this test does not know: " << type;
  return true;
}

// Values too large for the parameter, each of which must be refused by it.
std::vector<json> Huge(const json& p) {
  const std::string type = p["type"];
  std::vector<json> out;
  if (type == "integer") {
    out = {json(uint64_t{1} << 63), json(UINT64_MAX), json(1e300), json(-1e300)};
    if (p["max"].get<int64_t>() < INT64_MAX) out.push_back(p["max"].get<int64_t>() + 1);
    if (p["min"].get<int64_t>() > INT64_MIN) out.push_back(p["min"].get<int64_t>() - 1);
    return out;
  }
  if (type == "boolean") return out;
  const size_t max_bytes = p["max_bytes"];
  const std::string too_long(max_bytes + 1, 'a');
  if (type == "string") return {json(too_long)};
  json many = json::array();
  for (size_t i = 0; i <= rpc::kMaxItems; ++i) many.push_back("a");
  if (type == "array of strings") return {json::array({too_long}), many};
  if (type == "object") return {json({{"k", too_long}})};  // checked by its encoded size
  json wide = json::object();
  for (size_t i = 0; i <= rpc::kMaxItems; ++i) wide["k" + std::to_string(i)] = "v";
  return {json({{"k", too_long}}), json({{too_long, "v"}}), wide};
}

// A value of the parameter's type (only the type is judged before FromJson).
json Sample(const json& p) {
  const std::string type = p["type"];
  if (type == "string") return "x";
  if (type == "integer") return std::max<int64_t>(p["min"].get<int64_t>(), 1);
  if (type == "boolean") return false;
  if (type == "array of strings") return json::array();
  return json::object();
}

class RpcParamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warren-params-XXXXXX";
    layout_ = Layout::ForRoot(mkdtemp(tmpl));
    Result<std::unique_ptr<Daemon>> d = Daemon::Open(layout_, FakeDeps());
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    daemon_ = std::move(*d);
    serve_ = std::thread([this] { EXPECT_TRUE(daemon_->Serve().ok()); });
    Result<std::unique_ptr<rpc::Client>> c = rpc::Client::Connect(layout_.socket);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(*c);
  }
  void TearDown() override {
    client_.reset();
    if (daemon_) {
      EXPECT_TRUE(daemon_->Close().ok());
    }
    if (serve_.joinable()) serve_.join();
    fs::remove_all(layout_.root);
  }

  // Calls `method` with `params`; expects InvalidArgument whose message
  // contains `names`, then a daemon that still answers on this connection.
  void ExpectRefused(const std::string& method, const json& params, const std::string& names) {
    SCOPED_TRACE(method + " " + params.dump().substr(0, 200));
    Result<json> r = client_->Call(method, params);
    ASSERT_FALSE(r.ok()) << "accepted: " << r->dump().substr(0, 200);
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << r.error().ToString();
    EXPECT_NE(r.error().message().find(names), std::string::npos) << r.error().message();
    Result<json> ping = client_->Call("daemon.ping", json::object());
    ASSERT_TRUE(ping.ok()) << "the daemon stopped answering: " << ping.status().ToString();
  }

  Layout layout_;
  std::unique_ptr<Daemon> daemon_;
  std::thread serve_;
  std::unique_ptr<rpc::Client> client_;
};

TEST_F(RpcParamsTest, EveryMethodRefusesBadParamsAndTheDaemonAnswers) {
  Result<json> described = client_->Call(rpc::kDescribeMethod, json::object());
  ASSERT_TRUE(described.ok()) << described.status().ToString();
  const json& methods = (*described)["methods"];
  ASSERT_GE(methods.size(), 20u);  // the whole table, not a stub
  int probes = 0;
  for (const json& m : methods) {
    const std::string name = m["name"];
    ASSERT_TRUE(m.contains("params")) << name << " declares no parameters";
    const json& params = m["params"];
    // Every method, with or without parameters.
    ExpectRefused(name, json::array(), "params must be a JSON object");
    ExpectRefused(name, json::array({"x"}), "params must be a JSON object");
    ExpectRefused(name, {{"no_such_field", 1}}, "unknown field \"no_such_field\"");
    probes += 3;
    for (const json& p : params) {
      const std::string field = p["name"];
      const std::string quoted = "field \"" + field + "\"";
      for (const json& v : EveryType()) {
        if (Fits(p["type"], v)) continue;
        ExpectRefused(name, {{field, v}}, quoted);
        ++probes;
      }
      for (const json& v : Huge(p)) {
        ExpectRefused(name, {{field, v}}, quoted);
        ++probes;
      }
      // Valid in every declared member but one unknown one.
      json all = json::object();
      for (const json& q : params) all[q["name"].get<std::string>()] = Sample(q);
      all["zz_" + field] = 1;
      ExpectRefused(name, all, "unknown field \"zz_" + field + "\"");
      ++probes;
      if (!p["required"].get<bool>()) continue;
      json missing = json::object();
      for (const json& q : params) {
        if (q["required"].get<bool>() && q["name"] != field) {
          missing[q["name"].get<std::string>()] = Sample(q);
        }
      }
      ExpectRefused(name, missing, quoted + " is required");
      ++probes;
    }
  }
  EXPECT_GT(probes, 300);
  Result<json> status = client_->Call("daemon.status", json::object());
  EXPECT_TRUE(status.ok()) << status.status().ToString();
}

}  // namespace
}  // namespace warren
