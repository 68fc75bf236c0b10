#include "rpc/params.h"

#include <gtest/gtest.h>

#include "rpc/dispatcher.h"
#include "rpc/test_methods.h"

namespace warren::rpc {
namespace {

using nlohmann::json;

constexpr auto kSpecs = std::to_array<ParamSpec>({
    Str("name", kRequired, "a name", 8),
    Int("n", kOptional, "a count", 1, 10),
    Bool("force", "a flag"),
    {"argv", ParamType::kStringList, kOptional, "words", kNoMin, kNoMax, 4},
    {"env", ParamType::kStringMap, kOptional, "vars", kNoMin, kNoMax, 4},
});

std::string Check(const json& params) {
  Status st = CheckParams(params, kSpecs);
  if (st.ok()) return "ok";
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  return st.message();
}

TEST(ParamsTest, AcceptsDeclaredMembersAndNullAsAbsent) {
  EXPECT_EQ(Check({{"name", "web"}}), "ok");
  EXPECT_EQ(Check({{"name", "web"},
                   {"n", 10},
                   {"force", true},
                   {"argv", {"a"}},
                   {"env", {{"K", "v"}}}}),
            "ok");
  EXPECT_EQ(Check({{"name", "web"}, {"n", nullptr}}), "ok");
}

TEST(ParamsTest, RefusesUnknownMembersListingTheAcceptedOnes) {
  EXPECT_EQ(Check({{"name", "web"}, {"nmae", "x"}}),
            "unknown field \"nmae\"; accepted: name n force argv env");
  EXPECT_EQ(CheckParams({{"x", 1}}, {}).message(),
            "unknown field \"x\"; it takes no parameters");
}

TEST(ParamsTest, RefusesWrongTypesNamingTheField) {
  EXPECT_EQ(Check({{"name", 5}}), "field \"name\" must be a string, got number");
  EXPECT_EQ(Check({{"name", "w"}, {"n", "5"}}), "field \"n\" must be an integer, got string");
  EXPECT_EQ(Check({{"name", "w"}, {"n", 1.5}}), "field \"n\" must be an integer, got number");
  EXPECT_EQ(Check({{"name", "w"}, {"force", 1}}), "field \"force\" must be a boolean, got number");
  EXPECT_EQ(Check({{"name", "w"}, {"argv", {"a", 1}}}),
            "field \"argv\" must be an array of strings, got array");
  EXPECT_EQ(Check({{"name", "w"}, {"env", {{"K", 1}}}}),
            "field \"env\" must be an object of strings, got object");
  // Present members are judged before absent required ones.
  EXPECT_EQ(Check({{"force", "yes"}}), "field \"force\" must be a boolean, got string");
  EXPECT_EQ(Check(json::object()), "field \"name\" is required");
  EXPECT_EQ(Check({{"name", nullptr}}), "field \"name\" is required");
  EXPECT_EQ(Check(json::array({"web"})), "params must be a JSON object, got array");
}

TEST(ParamsTest, RefusesHugeValuesInsteadOfTruncating) {
  for (const json& n : {json(11), json(0), json(-1), json(INT64_MIN), json(INT64_MAX),
                        json(uint64_t{1} << 63), json(UINT64_MAX)}) {
    EXPECT_NE(Check({{"name", "w"}, {"n", n}}).find("field \"n\" is out of range (1..10)"),
              std::string::npos)
        << n.dump();
  }
  EXPECT_EQ(Check({{"name", "w"}, {"n", 1e300}}), "field \"n\" must be an integer, got number");
  EXPECT_EQ(Check({{"name", "123456789"}}), "field \"name\" is longer than 8 bytes");
  EXPECT_EQ(Check({{"name", "w"}, {"argv", {"12345"}}}), "field \"argv\" is longer than 4 bytes");
  EXPECT_EQ(Check({{"name", "w"}, {"env", {{"12345", "v"}}}}),
            "field \"env\" is longer than 4 bytes");
  json many = json::array();
  for (size_t i = 0; i <= kMaxItems; ++i) many.push_back("a");
  EXPECT_EQ(Check({{"name", "w"}, {"argv", many}}), "field \"argv\" has more than 4096 entries");
}

TEST(ParamsTest, UnknownMemberNamesAreBoundedInErrors) {
  std::string key(10000, 'k');
  EXPECT_LT(Check({{"name", "w"}, {key, 1}}).size(), 200u);
}

TEST(ParamsTest, DispatcherDescribesDeclaredMethods) {
  auto d = testing::MakeTestDispatcher();
  CallContext ctx;
  Result<json> all = d->Dispatch(kDescribeMethod, json::object(), ctx);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  json need_name;
  for (const json& m : (*all)["methods"]) {
    if (m["name"] == "need_name") need_name = m;
    if (m["name"] == "echo") EXPECT_FALSE(m.contains("params"));  // built by hand
  }
  EXPECT_EQ(need_name, json::parse(R"({"name":"need_name","mutating":false,"params":[
      {"name":"name","type":"string","required":true,"doc":"a name","max_bytes":4096}],
      "summary":"","result":"","errors":[],"notifications":""})"));
  EXPECT_EQ(d->Dispatch(kDescribeMethod, {{"x", 1}}, ctx).status().code(),
            Code::kInvalidArgument);
}

}  // namespace
}  // namespace warren::rpc
