// The activation window as the agent and the gateway read it
// (client/activation_window.hpp).
#include "client/activation_window.hpp"

#include <gtest/gtest.h>

namespace flotilla::client {
namespace {

common::TimePoint at(const char* text) { return *common::parse_rfc3339(text); }

TEST(ActivationWindow, NoWindowIsAnyTime) {
  EXPECT_TRUE(activation_window_open(nullptr, at("2026-12-07T12:00:00Z")));
  EXPECT_TRUE(activation_window_open("not a window", at("2026-12-07T12:00:00Z")));
  EXPECT_EQ(describe_activation_window(nullptr), "any time");
}

TEST(ActivationWindow, OpenFromItsStartUpToButNotAtItsEnd) {
  common::Json w = {{"start", "2026-12-07T01:00:00Z"}, {"end", "2026-12-07T05:00:00Z"}};
  EXPECT_FALSE(activation_window_open(w, at("2026-12-07T00:59:59Z")));
  EXPECT_TRUE(activation_window_open(w, at("2026-12-07T01:00:00Z")));
  EXPECT_TRUE(activation_window_open(w, at("2026-12-07T04:59:59Z")));
  EXPECT_FALSE(activation_window_open(w, at("2026-12-07T05:00:00Z")));
  EXPECT_EQ(describe_activation_window(w), "from 2026-12-07T01:00:00Z to 2026-12-07T05:00:00Z");
}

TEST(ActivationWindow, NoWindowToComeWaitsUntilTheDeadlineLiftsIt) {
  common::Json w = {{"start", nullptr}, {"end", nullptr}};
  EXPECT_FALSE(activation_window_open(w, at("2030-01-01T00:00:00Z")));
  w["until"] = "2026-12-08T00:00:00Z";
  EXPECT_FALSE(activation_window_open(w, at("2026-12-07T23:59:59Z")));
  EXPECT_TRUE(activation_window_open(w, at("2026-12-08T00:00:00Z")));
  EXPECT_EQ(describe_activation_window(w), "none within the server's horizon, or at 2026-12-08T00:00:00Z");
}

TEST(ActivationWindow, ItOpensAtItsStartOrAtTheDeadlineWhicheverComesFirst) {
  EXPECT_FALSE(activation_window_opens(nullptr));
  EXPECT_FALSE(activation_window_opens(common::Json{{"start", nullptr}, {"end", nullptr}}));
  common::Json w = {{"start", "2026-12-08T01:00:00Z"}, {"end", "2026-12-08T05:00:00Z"}};
  EXPECT_EQ(activation_window_opens(w), at("2026-12-08T01:00:00Z"));
  w["until"] = "2026-12-07T23:00:00Z";
  EXPECT_EQ(activation_window_opens(w), at("2026-12-07T23:00:00Z"));
  EXPECT_EQ(activation_window_opens(common::Json{{"start", nullptr}, {"end", nullptr}, {"until", "2026-12-09T00:00:00Z"}}),
            at("2026-12-09T00:00:00Z"));
}

TEST(ActivationWindow, AMalformedWindowNeverOpensBeforeItsDeadline) {
  // A server that sends garbage does not get a device switched at once.
  for (const auto& w : {common::Json{{"start", 5}, {"end", "x"}}, common::Json{{"start", "2026-12-07T01:00:00Z"}},
                        common::Json::object()}) {
    EXPECT_FALSE(activation_window_open(w, at("2026-12-07T02:00:00Z"))) << w.dump();
  }
}

}  // namespace
}  // namespace flotilla::client
