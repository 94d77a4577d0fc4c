#include "mcpgw/sse.h"

#include <gtest/gtest.h>

using namespace mcpgw::sse;

TEST(Sse, EncodesMessageEventWithIdAndData) {
  std::string out;
  append_event(out, "3_1", R"({"a":1})");
  EXPECT_EQ(out, "event: message\nid: 3_1\ndata: {\"a\":1}\n\n");
}

TEST(Sse, EncodesPrimingEventWithRetryAndEmptyData) {
  std::string out;
  append_event(out, "1_0", "", 1000);
  EXPECT_EQ(out, "id: 1_0\nretry: 1000\ndata: \n\n");
}

TEST(Sse, SplitsMultilineDataIntoSeveralDataLines) {
  std::string out;
  append_event(out, "", "a\nb\r\nc\rd");
  EXPECT_EQ(out, "event: message\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
}

TEST(Sse, DecodesEventsFedByteByByte) {
  std::string wire = "event: message\nid: 7\ndata: {\"x\":\ndata: 1}\n\n: comment\n\ndata: two\n\n";
  decoder d(1024);
  std::vector<event> got;
  for (char c : wire) {
    d.feed(std::string_view(&c, 1));
    event e;
    while (d.next(e) == decode_status::event_ready) {
      got.push_back(e);
    }
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, "7");
  EXPECT_TRUE(got[0].has_id);
  EXPECT_EQ(got[0].type, "message");
  EXPECT_EQ(got[0].data, "{\"x\":\n1}");
  EXPECT_EQ(got[1].data, "two");
  EXPECT_FALSE(got[1].has_id);
}

TEST(Sse, HandlesCrLfAndBareCrLineEnds) {
  decoder d(1024);
  d.feed("id: a\r\ndata: x\r\n\r\nid: b\rdata: y\r\r");
  event e;
  ASSERT_EQ(d.next(e), decode_status::event_ready);
  EXPECT_EQ(e.id, "a");
  EXPECT_EQ(e.data, "x");
  // The last CR may be the first half of a CRLF: the event waits for the next byte.
  EXPECT_EQ(d.next(e), decode_status::need_more);
  d.feed("data: z\n\n");
  ASSERT_EQ(d.next(e), decode_status::event_ready);
  EXPECT_EQ(e.id, "b");
  EXPECT_EQ(e.data, "y");
  ASSERT_EQ(d.next(e), decode_status::event_ready);
  EXPECT_EQ(e.data, "z");
}

TEST(Sse, ReportsPrimingEventWithIdRetryAndNoData) {
  decoder d(1024);
  d.feed("id: s1::0\nretry: 5000\ndata: \n\n");
  event e;
  ASSERT_EQ(d.next(e), decode_status::event_ready);
  EXPECT_EQ(e.id, "s1::0");
  EXPECT_EQ(e.retry_ms, 5000u);
  EXPECT_TRUE(e.data.empty());
}

TEST(Sse, IgnoresMalformedRetry) {
  decoder d(1024);
  d.feed("retry: 12x\ndata: a\n\n");
  event e;
  ASSERT_EQ(d.next(e), decode_status::event_ready);
  EXPECT_FALSE(e.retry_ms.has_value());
}

TEST(Sse, RejectsEventOverTheLimit) {
  decoder d(16);
  d.feed("data: 0123456789abcdefgh\n\n");
  event e;
  EXPECT_EQ(d.next(e), decode_status::too_large);
  decoder line_limit(16);
  line_limit.feed("data: 0123456789abcdefghijkl");  // no end of line yet
  EXPECT_EQ(line_limit.next(e), decode_status::too_large);
}

TEST(Sse, RoundTripsEncoderOutput) {
  std::string wire;
  append_event(wire, "9_2", "line1\nline2");
  decoder d(1024);
  d.feed(wire);
  event e;
  ASSERT_EQ(d.next(e), decode_status::event_ready);
  EXPECT_EQ(e.id, "9_2");
  EXPECT_EQ(e.data, "line1\nline2");
}

TEST(Sse, DecodesALargeEventArrivingInManyReads) {
  std::string data(4 * 1024 * 1024, 'x');
  std::string wire;
  append_event(wire, "1_1", data);
  decoder d(8 * 1024 * 1024);
  event e;
  std::size_t ready = 0;
  for (std::size_t at = 0; at < wire.size(); at += 16 * 1024) {
    d.feed(std::string_view(wire).substr(at, 16 * 1024));
    while (d.next(e) == decode_status::event_ready) {
      ++ready;
    }
  }
  ASSERT_EQ(ready, 1u);
  EXPECT_EQ(e.data.size(), data.size());
  EXPECT_EQ(e.id, "1_1");
}

TEST(Sse, CountsCommentLinesWithoutMakingThemEvents) {
  mcpgw::sse::decoder d(1024);
  d.feed(": keep-alive\n\n: another\ndata: x\n\n");
  mcpgw::sse::event ev;
  ASSERT_EQ(d.next(ev), mcpgw::sse::decode_status::event_ready);
  EXPECT_EQ(ev.data, "x");
  EXPECT_EQ(d.comments(), 2U);
  EXPECT_EQ(d.next(ev), mcpgw::sse::decode_status::need_more);
}
