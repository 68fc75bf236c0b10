#include "rpc/stream_control.h"

#include <gtest/gtest.h>

namespace warren::rpc {
namespace {

TEST(StreamControlTest, ParsesWhatBothSidesSend) {
  for (const std::string& text :
       {ControlEof(), ControlSignal("INT"), ControlResize(80, 24), ControlAck(12345),
        ControlReady()}) {
    Result<StreamControl> c = StreamControl::Parse(text);
    ASSERT_TRUE(c.ok()) << text << ": " << c.status().ToString();
    EXPECT_EQ(c->Encode(), text);
  }
  Result<StreamControl> all =
      StreamControl::Parse(R"({"eof":true,"signal":"TERM","resize":[1,10000],"ack":0})");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_TRUE(all->eof);
  EXPECT_EQ(all->signal, "TERM");
  EXPECT_EQ(all->resize, std::make_pair(1, 10000));
  EXPECT_EQ(all->ack, 0u);
  EXPECT_FALSE(all->ready);
  EXPECT_TRUE(StreamControl::Parse("{}").ok());
}

// Each of these threw out of the daemon's reader thread (or was half
// applied) when the payload was read as untyped JSON.
TEST(StreamControlTest, RefusesWrongTypesAndRangesWhole) {
  const std::string huge_array = "{\"resize\":[" + std::string(200, '1') + "]}";
  std::string deep(600, '[');
  for (const std::string& text : {
           std::string(R"({"resize":["a",1]})"), std::string(R"({"resize":[1]})"),
           std::string(R"({"resize":[1,2,3]})"), std::string(R"({"resize":[0,24]})"),
           std::string(R"({"resize":[80,99999999999]})"), std::string(R"({"resize":[80.5,24]})"),
           std::string(R"({"resize":{"a":1}})"), std::string(R"({"eof":"yes"})"),
           std::string(R"({"eof":1})"), std::string(R"({"ready":null})"),
           std::string(R"({"signal":5})"), std::string(R"({"signal":""})"),
           std::string(R"({"signal":"INT; rm -rf /"})"), std::string(R"({"signal":"AAAAAAAAAAAAAAAAA"})"),
           std::string(R"({"ack":-1})"), std::string(R"({"ack":1.5})"),
           std::string(R"({"ack":"1"})"), std::string(R"({"ack":1e300})"),
           std::string(R"({"eof":true,"bogus":1})"), std::string("[1,2]"), std::string("\"eof\""),
           std::string("{"), std::string(""), std::string("\xff\xfe"), huge_array, deep,
           std::string(kMaxControlBytes + 1, ' '),
       }) {
    Result<StreamControl> c = StreamControl::Parse(text);
    EXPECT_FALSE(c.ok()) << text;
    if (!c.ok()) {
      EXPECT_EQ(c.error().code(), Code::kInvalidArgument) << text;
    }
  }
}

}  // namespace
}  // namespace warren::rpc
