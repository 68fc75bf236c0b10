#include "dns/answer_cache.h"

#include <gtest/gtest.h>

namespace warren {
namespace {

// Only the first two bytes (the ID) of these stand-ins matter to the cache.
const std::string kQuery1 = std::string("\x00\x01", 2) + "question";
const std::string kQuery2 = std::string("\xab\xcd", 2) + "question";
const std::string kResponse = std::string("\x00\x01", 2) + "answer";

TEST(AnswerCacheTest, HitCarriesTheAskingId) {
  AnswerCache cache(16);
  EXPECT_FALSE(cache.Find(kQuery1, Transport::kUdp, 7).has_value());
  cache.Insert(kQuery1, Transport::kUdp, 7, kResponse);
  EXPECT_EQ(cache.Find(kQuery2, Transport::kUdp, 7), std::string("\xab\xcd", 2) + "answer");
  EXPECT_FALSE(cache.Find(kQuery2, Transport::kTcp, 7).has_value());  // TC differs by transport
  EXPECT_FALSE(cache.Find(std::string("\x00\x01", 2) + "other", Transport::kUdp, 7));
}

TEST(AnswerCacheTest, NewSerialEmptiesIt) {
  AnswerCache cache(16);
  cache.Insert(kQuery1, Transport::kUdp, 7, kResponse);
  EXPECT_FALSE(cache.Find(kQuery1, Transport::kUdp, 8).has_value());
  EXPECT_EQ(cache.size(), 0u);
  // An insert computed under an older serial cannot survive the next lookup either.
  cache.Insert(kQuery1, Transport::kUdp, 7, kResponse);
  EXPECT_FALSE(cache.Find(kQuery1, Transport::kUdp, 8).has_value());
}

TEST(AnswerCacheTest, BoundedAndDisableable) {
  AnswerCache cache(2);
  for (char c : std::string("abc")) {
    cache.Insert(std::string("\x00\x01", 2) + c, Transport::kUdp, 1, kResponse);
  }
  EXPECT_LE(cache.size(), 2u);
  AnswerCache off(0);
  off.Insert(kQuery1, Transport::kUdp, 1, kResponse);
  EXPECT_FALSE(off.Find(kQuery1, Transport::kUdp, 1).has_value());
  EXPECT_FALSE(cache.Find("x", Transport::kUdp, 1).has_value());  // shorter than an ID
}

}  // namespace
}  // namespace warren
