#include "observability/trace.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace mcpgw;

namespace {
constexpr std::string_view good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
}

TEST(Traceparent, ParsesTheW3cExample) {
  auto t = trace::parse_traceparent(good);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->trace(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->span(), "00f067aa0ba902b7");
  EXPECT_EQ(t->flags, 1);
  EXPECT_TRUE(trace::parse_traceparent(std::string(" ") + std::string(good) + "\t"));
}

TEST(Traceparent, RefusesWhatW3cRefuses) {
  for (std::string_view bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       // no flags
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // upper case
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero parent id
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // v00 has 4 fields
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // separator
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
       }) {
    EXPECT_FALSE(trace::parse_traceparent(bad)) << bad;
  }
}

TEST(Traceparent, AcceptsALaterVersionWithMoreFields) {
  auto t = trace::parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->flags, 3);
  EXPECT_FALSE(
      trace::parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03x"));
}

TEST(Traceparent, FormatKeepsTraceAndFlagsWithTheNewSpan) {
  auto t = trace::parse_traceparent(good);
  ASSERT_TRUE(t);
  std::array<char, 16> span{};
  std::string_view s = "0123456789abcdef";
  std::copy(s.begin(), s.end(), span.begin());
  auto out = trace::format(*t, span);
  EXPECT_EQ(std::string_view(out.data(), out.size()),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0123456789abcdef-01");
}

TEST(Traceparent, MetaWinsOverTheHeaderWhenValid) {
  auto from_meta =
      trace::incoming("\"00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-00\"", good);
  ASSERT_TRUE(from_meta);
  EXPECT_EQ(from_meta->trace(), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  auto fallback = trace::incoming("\"junk\"", good);
  ASSERT_TRUE(fallback);
  EXPECT_EQ(fallback->trace(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_FALSE(trace::incoming({}, {}));
}

TEST(TraceIds, NewIdsAreValidAndDistinct) {
  trace::id_source ids;
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto t = ids.new_trace();
    auto span = ids.new_span();
    auto header = trace::format(t, span);
    ASSERT_TRUE(trace::parse_traceparent({header.data(), header.size()}));
    seen.insert(std::string(t.trace()));
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(RequestIds, OnlyPlainShortIdsAreTaken) {
  EXPECT_TRUE(trace::valid_request_id("abc-123_x.y:z"));
  EXPECT_FALSE(trace::valid_request_id(""));
  EXPECT_FALSE(trace::valid_request_id(std::string(129, 'a')));
  EXPECT_FALSE(trace::valid_request_id("a b"));
  EXPECT_FALSE(trace::valid_request_id("a\"b"));
  EXPECT_TRUE(trace::valid_tracestate("vendor=abc,other=1"));
  EXPECT_FALSE(trace::valid_tracestate(std::string(513, 'a')));
  EXPECT_FALSE(trace::valid_tracestate("a\x01"));
}
