#include "server/api/range.hpp"

#include <gtest/gtest.h>

namespace flotilla::server::api {
namespace {

const std::string kEtag = "\"abc\"";

RangeDecision decide(const char* range, const char* if_range = nullptr, std::uint64_t size = 100) {
  return decide_range(range ? std::optional<std::string>(range) : std::nullopt,
                      if_range ? std::optional<std::string>(if_range) : std::nullopt, kEtag, size);
}

TEST(Range, SingleRanges) {
  auto r = decide("bytes=10-19");
  EXPECT_EQ(r.outcome, RangeOutcome::kPartial);
  EXPECT_EQ(r.range.offset, 10u);
  EXPECT_EQ(r.range.length, 10u);
  EXPECT_EQ(decide("bytes=90-").range.length, 10u);
  EXPECT_EQ(decide("bytes=-5").range.offset, 95u);
  EXPECT_EQ(decide("bytes=-500").range.offset, 0u);
  EXPECT_EQ(decide("bytes=95-1000").range.length, 5u);
  EXPECT_EQ(decide("bytes=99-99").range.length, 1u);
}

TEST(Range, UnsatisfiableAndIgnored) {
  EXPECT_EQ(decide("bytes=100-").outcome, RangeOutcome::kUnsatisfiable);
  EXPECT_EQ(decide("bytes=-0").outcome, RangeOutcome::kUnsatisfiable);
  EXPECT_EQ(decide("bytes=0-", nullptr, 0).outcome, RangeOutcome::kUnsatisfiable);
  for (const char* ignored : {"items=0-1", "bytes=5-2", "bytes=0-1,5-6", "bytes=x-", "bytes=", "bytes=-"}) {
    EXPECT_EQ(decide(ignored).outcome, RangeOutcome::kWhole) << ignored;
  }
  EXPECT_EQ(decide(nullptr).outcome, RangeOutcome::kWhole);
}

TEST(Range, IfRangeMustMatchTheEtag) {
  EXPECT_EQ(decide("bytes=0-1", "\"abc\"").outcome, RangeOutcome::kPartial);
  EXPECT_EQ(decide("bytes=0-1", "\"old\"").outcome, RangeOutcome::kWhole);
}

}  // namespace
}  // namespace flotilla::server::api
