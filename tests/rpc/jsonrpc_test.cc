#include "rpc/jsonrpc.h"

#include <gtest/gtest.h>

#include "rpc/errors.h"

namespace warren::rpc {
namespace {

using nlohmann::json;

Request MustParse(std::string_view text) {
  auto parsed = ParseRequest(text);
  if (auto* err = std::get_if<RequestError>(&parsed)) {
    ADD_FAILURE() << "unexpected error " << err->error.code << ": " << err->error.message;
    return {};
  }
  return std::get<Request>(parsed);
}

RequestError MustFail(std::string_view text) {
  auto parsed = ParseRequest(text);
  if (!std::holds_alternative<RequestError>(parsed)) {
    ADD_FAILURE() << "expected an error for " << text;
    return {};
  }
  return std::get<RequestError>(parsed);
}

TEST(ParseRequestTest, FullRequest) {
  Request r = MustParse(R"({"jsonrpc":"2.0","id":7,"method":"vm.list","params":{"all":true}})");
  EXPECT_FALSE(r.notification);
  EXPECT_EQ(r.id, 7);
  EXPECT_EQ(r.method, "vm.list");
  EXPECT_EQ(r.params, json({{"all", true}}));
}

TEST(ParseRequestTest, StringAndNullIds) {
  EXPECT_EQ(MustParse(R"({"jsonrpc":"2.0","id":"a","method":"m"})").id, "a");
  Request r = MustParse(R"({"jsonrpc":"2.0","id":null,"method":"m"})");
  EXPECT_TRUE(r.id.is_null());
  EXPECT_FALSE(r.notification);
}

TEST(ParseRequestTest, AbsentParamsBecomeEmptyObjectAndArraysAreKept) {
  EXPECT_EQ(MustParse(R"({"jsonrpc":"2.0","id":1,"method":"m"})").params, json::object());
  EXPECT_EQ(MustParse(R"({"jsonrpc":"2.0","id":1,"method":"m","params":[1,2]})").params,
            json::array({1, 2}));
}

TEST(ParseRequestTest, Notification) {
  Request r = MustParse(R"({"jsonrpc":"2.0","method":"$/cancel","params":{"id":3}})");
  EXPECT_TRUE(r.notification);
  EXPECT_EQ(r.method, kCancelMethod);
}

TEST(ParseRequestTest, ParseError) {
  RequestError e = MustFail("{not json");
  EXPECT_EQ(e.error.code, kParseError);
  EXPECT_TRUE(e.id.is_null());
  EXPECT_EQ(MustFail("").error.code, kParseError);
}

TEST(ParseRequestTest, InvalidRequests) {
  struct Case {
    const char* text;
    json id;
  };
  const Case cases[] = {
      {R"([{"jsonrpc":"2.0","id":1,"method":"m"}])", nullptr},      // batch
      {R"("just a string")", nullptr},                              // not an object
      {R"({"jsonrpc":"2.0","id":{"x":1},"method":"m"})", nullptr},  // bad id type
      {R"({"jsonrpc":"2.0","id":[1],"method":"m"})", nullptr},      // bad id type
      {R"({"id":1,"method":"m"})", 1},                              // no jsonrpc
      {R"({"jsonrpc":"1.0","id":1,"method":"m"})", 1},              // wrong version
      {R"({"jsonrpc":2.0,"id":1,"method":"m"})", 1},                // version not a string
      {R"({"jsonrpc":"2.0","id":"x","method":5})", "x"},            // method not a string
      {R"({"jsonrpc":"2.0","id":2})", 2},                           // no method
      {R"({"jsonrpc":"2.0","id":3,"method":"m","params":5})", 3},   // scalar params
      {R"({"jsonrpc":"2.0","id":4,"method":"m","params":"s"})", 4},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    RequestError e = MustFail(c.text);
    EXPECT_EQ(e.error.code, kInvalidRequest);
    EXPECT_EQ(e.id, c.id);
  }
}

TEST(ParseIncomingTest, ResultErrorAndNotification) {
  auto r = ParseIncoming(MakeResult(5, {{"ok", true}}));
  ASSERT_TRUE(std::holds_alternative<Response>(r));
  EXPECT_EQ(std::get<Response>(r).id, 5);
  EXPECT_EQ(*std::get<Response>(r).result, json({{"ok", true}}));

  auto e = ParseIncoming(MakeError("a", JsonRpcError{-32001, "gone", {{"code", "not_found"}}}));
  ASSERT_TRUE(std::holds_alternative<Response>(e));
  const Response& resp = std::get<Response>(e);
  ASSERT_TRUE(resp.error.has_value());
  EXPECT_EQ(resp.error->code, -32001);
  EXPECT_EQ(resp.error->message, "gone");
  EXPECT_EQ(resp.error->data, json({{"code", "not_found"}}));

  auto n = ParseIncoming(MakeNotification("progress", {{"i", 1}}));
  ASSERT_TRUE(std::holds_alternative<Notification>(n));
  EXPECT_EQ(std::get<Notification>(n).method, "progress");
}

TEST(ParseIncomingTest, Malformed) {
  EXPECT_TRUE(std::holds_alternative<RequestError>(ParseIncoming("nope")));
  EXPECT_TRUE(std::holds_alternative<RequestError>(ParseIncoming(R"({"jsonrpc":"2.0","id":1})")));
  EXPECT_TRUE(std::holds_alternative<RequestError>(
      ParseIncoming(R"({"jsonrpc":"2.0","id":1,"result":1,"error":{}})")));
  EXPECT_TRUE(std::holds_alternative<RequestError>(
      ParseIncoming(R"({"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}})")));
}

TEST(BuildersTest, InvalidUtf8DoesNotThrow) {
  std::string text = MakeResult(1, std::string("bad \xff utf8"));
  EXPECT_NE(text.find("bad"), std::string::npos);
}

TEST(ErrorMappingTest, ApplicationCodes) {
  struct Case {
    Status status;
    int code;
    const char* slug;
  };
  const Case cases[] = {
      {NotFound("vm \"a\" does not exist"), -32001, "not_found"},
      {AlreadyExists("x"), -32002, "already_exists"},
      {FailedPrecondition("x"), -32003, "failed_precondition"},
      {Unavailable("x"), -32004, "unavailable"},
      {Cancelled("x"), -32005, "cancelled"},
      {DeadlineExceeded("x"), -32006, "deadline_exceeded"},
      {ResourceExhausted("x"), -32007, "resource_exhausted"},
      {InvalidArgument("x"), -32602, "invalid_argument"},
      {Internal("x"), -32603, "internal"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.slug);
    JsonRpcError e = StatusToJsonRpcError(c.status);
    EXPECT_EQ(e.code, c.code);
    EXPECT_EQ(e.message, c.status.message());
    EXPECT_EQ(e.data, json({{"code", c.slug}}));
    Status back = JsonRpcErrorToStatus(e);
    EXPECT_EQ(back.code(), c.status.code());
    EXPECT_EQ(back.message(), c.status.message());
  }
}

TEST(ErrorMappingTest, ReverseWithoutDataUsesNumericCode) {
  EXPECT_EQ(JsonRpcErrorToStatus({-32004, "busy", nullptr}).code(), Code::kUnavailable);
  EXPECT_EQ(JsonRpcErrorToStatus({kMethodNotFound, "unknown method", nullptr}).code(),
            Code::kNotFound);
  EXPECT_EQ(JsonRpcErrorToStatus({kParseError, "bad", nullptr}).code(), Code::kInternal);
  EXPECT_EQ(JsonRpcErrorToStatus({12345, "odd", nullptr}).code(), Code::kInternal);
  // data.code wins over the number (e.g. a future code the number doesn't know).
  EXPECT_EQ(JsonRpcErrorToStatus({-32603, "m", {{"code", "not_found"}}}).code(), Code::kNotFound);
}

}  // namespace
}  // namespace warren::rpc
