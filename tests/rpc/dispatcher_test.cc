#include "rpc/dispatcher.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "rpc/errors.h"
#include "rpc/test_methods.h"

namespace warren::rpc {
namespace {

using nlohmann::json;

TEST(DispatcherTest, DispatchesByName) {
  auto d = testing::MakeTestDispatcher();
  CallContext ctx;
  auto r = d->Dispatch("need_name", {{"name", "web"}}, ctx);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, json({{"hello", "web"}}));
}

TEST(DispatcherTest, UnknownMethodIsNotFoundAndMinus32601) {
  auto d = testing::MakeTestDispatcher();
  CallContext ctx;
  EXPECT_EQ(d->Dispatch("nope", json::object(), ctx).status().code(), Code::kNotFound);
  Request req{1, false, "nope", json::object()};
  auto resp = ParseIncoming(d->HandleRequest(req, ctx));
  ASSERT_TRUE(std::get<Response>(resp).error.has_value());
  EXPECT_EQ(std::get<Response>(resp).error->code, kMethodNotFound);
}

TEST(DispatcherTest, TypedRequestErrorsNameTheField) {
  auto d = testing::MakeTestDispatcher();
  CallContext ctx;
  Status missing = d->Dispatch("need_name", json::object(), ctx).status();
  EXPECT_EQ(missing.code(), Code::kInvalidArgument);
  EXPECT_EQ(missing.message(), "field \"name\" is required");
  Status wrong = d->Dispatch("need_name", {{"name", 5}}, ctx).status();
  EXPECT_EQ(wrong.message(), "field \"name\" must be a string, got number");
  Status array = d->Dispatch("need_name", json::array({"web"}), ctx).status();
  EXPECT_EQ(array.code(), Code::kInvalidArgument);
  EXPECT_NE(array.message().find("params must be a JSON object"), std::string::npos);
}

TEST(DispatcherTest, DrainingRefusesOnlyMutatingMethods) {
  auto d = testing::MakeTestDispatcher();
  CallContext ctx;
  EXPECT_TRUE(d->Dispatch("mutate", json::object(), ctx).ok());
  d->SetDraining();
  Status refused = d->Dispatch("mutate", json::object(), ctx).status();
  EXPECT_EQ(refused.code(), Code::kUnavailable);
  EXPECT_EQ(refused.message(), "daemon is shutting down");
  EXPECT_TRUE(d->Dispatch("echo", json::object(), ctx).ok());
}

TEST(DispatcherTest, ExceptionsBecomeInternal) {
  Dispatcher d({{"boom", Mutation::kReadOnly, [](const json&, CallContext&) -> Result<json> {
                   throw std::runtime_error("kaboom");
                 }}});
  CallContext ctx;
  Status st = d.Dispatch("boom", json::object(), ctx).status();
  EXPECT_EQ(st.code(), Code::kInternal);
  EXPECT_NE(st.message().find("kaboom"), std::string::npos);
}

TEST(DispatcherTest, MethodNamesAreSorted) {
  Dispatcher d(
      {{"b", Mutation::kReadOnly, [](const json&, CallContext&) -> Result<json> { return json(); }},
       {"a", Mutation::kMutating,
        [](const json&, CallContext&) -> Result<json> { return json(); }}});
  // rpc.methods is built into every dispatcher.
  EXPECT_EQ(d.MethodNames(), (std::vector<std::string>{"a", "b", "rpc.methods"}));
  ASSERT_NE(d.Find("a"), nullptr);
  EXPECT_EQ(d.Find("a")->mutation, Mutation::kMutating);
  EXPECT_EQ(d.Find("c"), nullptr);
}

TEST(DispatcherDeathTest, DuplicateNamesAbort) {
  auto make = [] {
    Handler h = [](const json&, CallContext&) -> Result<json> { return json(); };
    Dispatcher d({{"x", Mutation::kReadOnly, h}, {"x", Mutation::kReadOnly, h}});
  };
  EXPECT_DEATH(make(), "CHECK failed");
}

TEST(RequestHelpersTest, FieldsAndErrors) {
  json p = {{"s", "v"},        {"i", 42},  {"b", true},   {"l", {"x", "y"}},
            {"o", {{"k", 1}}}, {"f", 1.5}, {"n", nullptr}};
  EXPECT_EQ(*RequiredString(p, "s"), "v");
  EXPECT_EQ(*OptionalString(p, "missing", "dflt"), "dflt");
  EXPECT_EQ(*OptionalString(p, "n", "dflt"), "dflt");
  EXPECT_EQ(*RequiredInt(p, "i"), 42);
  EXPECT_EQ(*OptionalInt(p, "missing", 9), 9);
  EXPECT_EQ(*OptionalBool(p, "b"), true);
  EXPECT_EQ(*OptionalStringList(p, "l"), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(*OptionalObject(p, "o"), json({{"k", 1}}));

  EXPECT_EQ(RequiredString(p, "i").status().message(), "field \"i\" must be a string, got number");
  EXPECT_EQ(RequiredInt(p, "f").status().message(), "field \"f\" must be an integer, got number");
  EXPECT_EQ(RequiredInt(p, "missing").status().message(), "field \"missing\" is required");
  EXPECT_EQ(OptionalBool(p, "s").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(OptionalStringList(p, "o").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(OptionalStringList({{"l", {"x", 1}}}, "l").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(OptionalObject(p, "s").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(RequiredInt({{"big", UINT64_MAX}}, "big").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace warren::rpc
