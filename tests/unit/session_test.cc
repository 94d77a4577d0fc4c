#include "mcp/session.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

using namespace mcpgw;

namespace {

struct fixture {
  boost::asio::io_context ioc;
  limits_config limits;
  route_binding route{"/mcp", nullptr};
  jsonrpc::decoder decoder;
  std::shared_ptr<session> s;

  fixture() {
    limits.stream_buffer_events = 4;
    s = std::make_shared<session>(ioc.get_executor(), "sid", route, limits);
  }

  std::string to_backend(const std::string& body, std::int64_t& upstream) {
    jsonrpc::envelope env = decoder.decode(body);
    return s->map_client_request(body, env, upstream);
  }
};

}  // namespace

TEST(SessionIds, ClientRequestIdAndProgressTokenBecomeOneUpstreamId) {
  fixture f;
  std::int64_t up = -1;
  std::string sent = f.to_backend(
      R"({"jsonrpc":"2.0","id":"c-1","method":"tools/call","params":{"name":"x","_meta":{"progressToken":"tok"}}})",
      up);
  EXPECT_EQ(up, 0);
  EXPECT_EQ(
      sent,
      R"({"jsonrpc":"2.0","id":0,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":0}}})");
  std::int64_t up2 = -1;
  f.to_backend(R"({"jsonrpc":"2.0","id":"c-1","method":"ping"})", up2);
  EXPECT_EQ(up2, 1) << "upstream ids never repeat, even for a reused client id";
}

TEST(SessionIds, BackendResponseAndProgressGetTheClientsIdsBack) {
  fixture f;
  std::int64_t up = -1;
  f.to_backend(
      R"({"jsonrpc":"2.0","id":"c-1","method":"tools/call","params":{"_meta":{"progressToken":"tok"}}})",
      up);
  auto progress = f.s->map_backend_message(
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":0,"progress":1}})",
      f.decoder);
  EXPECT_EQ(
      progress.body,
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"tok","progress":1}})");
  auto result =
      f.s->map_backend_message(R"({"result":{"content":[]},"jsonrpc":"2.0","id":0})", f.decoder);
  EXPECT_EQ(result.body, R"({"result":{"content":[]},"jsonrpc":"2.0","id":"c-1"})");
  EXPECT_EQ(result.completes, up);
  f.s->forget_request(up);
  auto late = f.s->map_backend_message(R"({"result":{},"jsonrpc":"2.0","id":0})", f.decoder);
  EXPECT_TRUE(late.body.empty()) << "a response for a finished request is dropped";
}

TEST(SessionIds, FinishedRequestsLeaveNothingBehindForTheRequestsThatReuseTheirEntries) {
  // A finished request's map entries are kept for the next requests: more requests than are
  // kept, finished, then new ones (some with the old client ids) must map as on a fresh session.
  fixture f;
  std::vector<std::int64_t> first;
  for (int i = 0; i < 7; ++i) {
    std::int64_t up = -1;
    f.to_backend(R"({"jsonrpc":"2.0","id":"a)" + std::to_string(i) +
                     R"(","method":"tools/call","params":{"_meta":{"progressToken":"p)" +
                     std::to_string(i) + R"("}}})",
                 up);
    first.push_back(up);
  }
  for (std::int64_t up : first) {
    f.s->forget_request(up);
  }
  for (int i = 0; i < 7; ++i) {
    EXPECT_FALSE(f.s->request_pending("\"a" + std::to_string(i) + "\"")) << i;
  }
  std::int64_t reused = -1;
  std::int64_t fresh = -1;
  f.to_backend(R"({"jsonrpc":"2.0","id":"a3","method":"ping"})", reused);
  f.to_backend(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}})", fresh);
  EXPECT_TRUE(f.s->request_pending("\"a3\""));
  EXPECT_TRUE(f.s->request_pending("7"));
  EXPECT_FALSE(f.s->request_pending("\"a4\""));
  const std::string up_reused = std::to_string(reused);
  const std::string up_fresh = std::to_string(fresh);
  EXPECT_EQ(f.s->map_backend_message(R"({"jsonrpc":"2.0","id":)" + up_fresh + R"(,"result":{}})",
                                     f.decoder)
                .body,
            R"({"jsonrpc":"2.0","id":7,"result":{}})");
  EXPECT_EQ(f.s->map_backend_message(R"({"jsonrpc":"2.0","id":)" + up_reused + R"(,"result":{}})",
                                     f.decoder)
                .body,
            R"({"jsonrpc":"2.0","id":"a3","result":{}})");
  // The old requests' progress tokens went with them.
  auto progress = f.s->map_backend_message(
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":)" +
          std::to_string(first[2]) + R"(,"progress":1}})",
      f.decoder);
  EXPECT_TRUE(progress.body.empty()) << progress.body;
  // And their late answers are dropped.
  auto late = f.s->map_backend_message(
      R"({"jsonrpc":"2.0","id":)" + std::to_string(first[5]) + R"(,"result":{}})", f.decoder);
  EXPECT_TRUE(late.body.empty()) << late.body;
}

TEST(SessionIds, ServerRequestsGetGatewayIdsAndClientResponsesGoBackWithTheBackendsId) {
  fixture f;
  auto req = f.s->map_backend_message(
      R"({"jsonrpc":"2.0","id":"srv-7","method":"sampling/createMessage","params":{}})", f.decoder);
  EXPECT_EQ(req.body, R"({"jsonrpc":"2.0","id":0,"method":"sampling/createMessage","params":{}})");
  std::string reply = R"({"jsonrpc":"2.0","id":0,"result":{"role":"assistant"}})";
  auto back = f.s->map_client_response(reply, f.decoder.decode(reply));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, R"({"jsonrpc":"2.0","id":"srv-7","result":{"role":"assistant"}})");
  EXPECT_FALSE(f.s->map_client_response(reply, f.decoder.decode(reply)).has_value())
      << "a second answer to the same request has nowhere to go";
}

TEST(SessionIds, CancellationsAreMappedBothWays) {
  fixture f;
  std::int64_t up = -1;
  f.to_backend(R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{}})", up);
  std::string cancel =
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}})";
  std::int64_t cancels = -1;
  auto mapped = f.s->map_client_notification(cancel, f.decoder.decode(cancel), cancels);
  ASSERT_TRUE(mapped.has_value());
  EXPECT_EQ(*mapped,
            R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":0}})");
  EXPECT_EQ(cancels, up);
  std::string unknown =
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}})";
  EXPECT_FALSE(
      f.s->map_client_notification(unknown, f.decoder.decode(unknown), cancels).has_value());

  f.s->map_backend_message(
      R"({"jsonrpc":"2.0","id":"e1","method":"elicitation/create","params":{}})", f.decoder);
  auto backend_cancel = f.s->map_backend_message(
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"e1"}})",
      f.decoder);
  EXPECT_EQ(backend_cancel.body,
            R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":0}})");
}

TEST(EventStream, ReplaysAfterAnIdAndKeepsABoundedWindow) {
  boost::asio::io_context ioc;
  event_stream post(ioc.get_executor(), 3, 4, false);
  for (int i = 1; i <= 6; ++i) {
    post.push("m" + std::to_string(i));
  }
  EXPECT_EQ(post.dropped(), 2u) << "an unread POST stream keeps only the newest events";
  const auto* e = post.next_after(0);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->seq, 3u);
  e = post.next_after(4);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->data, "m5");
  EXPECT_EQ(post.next_after(6), nullptr);
  EXPECT_EQ(post.event_id(5), "3_5");
}

TEST(EventStream, GetStreamKeepsUndeliveredEventsBeyondCapacity) {
  boost::asio::io_context ioc;
  event_stream get(ioc.get_executor(), 0, 2, true);
  get.push("a");
  get.push("b");
  get.push("c");
  EXPECT_EQ(get.dropped(), 0u);
  EXPECT_EQ(get.next_after(0)->data, "a");
  get.mark_delivered(2);
  get.push("d");
  EXPECT_EQ(get.next_after(0)->data, "c") << "delivered events make room";
}

TEST(EventStream, ParsesEventIds) {
  std::uint64_t stream = 0;
  std::uint64_t seq = 0;
  EXPECT_TRUE(parse_event_id("12_34", stream, seq));
  EXPECT_EQ(stream, 12u);
  EXPECT_EQ(seq, 34u);
  EXPECT_FALSE(parse_event_id("12", stream, seq));
  EXPECT_FALSE(parse_event_id("a_1", stream, seq));
  EXPECT_FALSE(parse_event_id("1_2x", stream, seq));
}

TEST(EventStream, AProducerWaitingForRoomWakesWhenTheConsumerDelivers) {
  boost::asio::io_context ioc;
  auto get = std::make_shared<event_stream>(ioc.get_executor(), 0, 2, true);
  get->push("a");
  get->push("b");
  bool resumed = false;
  boost::asio::co_spawn(
      ioc,
      [](std::shared_ptr<event_stream> s, bool& flag) -> boost::asio::awaitable<void> {
        flag = co_await s->wait_for_room();
      }(get, resumed),
      boost::asio::detached);
  ioc.run_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(resumed) << "a full GET stream holds its producer back";
  get->mark_delivered(1);
  ioc.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(resumed) << "delivery makes room and wakes the producer at once";
}

TEST(EventStream, FinishingReleasesAWaitingProducer) {
  boost::asio::io_context ioc;
  auto get = std::make_shared<event_stream>(ioc.get_executor(), 0, 1, true);
  get->push("a");
  bool done = false;
  bool room = true;
  boost::asio::co_spawn(
      ioc,
      [](std::shared_ptr<event_stream> s, bool& r, bool& d) -> boost::asio::awaitable<void> {
        r = co_await s->wait_for_room();
        d = true;
      }(get, room, done),
      boost::asio::detached);
  ioc.run_for(std::chrono::milliseconds(20));
  get->finish();
  ioc.run_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(done);
  EXPECT_FALSE(room) << "no room on a finished stream: the producer stops";
}

TEST(SessionStreams, FinishedPostStreamsAreCappedEvenBehindALongRunningOne) {
  fixture f;
  auto long_running = f.s->open_post_stream();  // never finishes during the test
  std::vector<std::shared_ptr<event_stream>> done;
  for (int i = 0; i < 100; ++i) {
    auto stream = f.s->open_post_stream();
    stream->push("r" + std::to_string(i));
    stream->finish();
    done.push_back(stream);
  }
  f.s->open_post_stream();  // trimming happens as streams open
  EXPECT_NE(f.s->find_stream(long_running->number()), nullptr) << "a running stream is kept";
  EXPECT_EQ(f.s->find_stream(done.front()->number()), nullptr) << "the oldest finished go";
  EXPECT_NE(f.s->find_stream(done.back()->number()), nullptr) << "the newest finished stay";
  int kept = 0;
  for (const auto& stream : done) {
    kept += f.s->find_stream(stream->number()) ? 1 : 0;
  }
  EXPECT_LE(kept, 32);
  EXPECT_GE(kept, 31);
}

TEST(EventStream, ANewOwnerTakesOverAndTheOldOneLosesIt) {
  boost::asio::io_context ioc;
  event_stream post(ioc.get_executor(), 1, 8, false);
  std::uint64_t first = post.attach();
  EXPECT_TRUE(post.owned_by(first));
  std::uint64_t second = post.attach();
  EXPECT_FALSE(post.owned_by(first));
  EXPECT_TRUE(post.owned_by(second));
  post.detach(first);  // the old writer leaving does not detach the new one
  EXPECT_TRUE(post.attached());
  post.detach(second);
  EXPECT_FALSE(post.attached());
}

TEST(EventStream, AnAttachedPostStreamHoldsItsProducerInsteadOfDropping) {
  boost::asio::io_context ioc;
  auto post = std::make_shared<event_stream>(ioc.get_executor(), 1, 2, false);
  std::uint64_t owner = post->attach();
  post->push("a");
  post->push("b");
  post->push("c");
  EXPECT_EQ(post->dropped(), 0u) << "a reader is attached: nothing undelivered is dropped";
  bool room = false;
  boost::asio::co_spawn(
      ioc,
      [](std::shared_ptr<event_stream> s, bool& r) -> boost::asio::awaitable<void> {
        r = co_await s->wait_for_room();
      }(post, room),
      boost::asio::detached);
  ioc.run_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(room);
  post->detach(owner);  // the reader went away: the producer goes on, old events may go
  ioc.run_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(room);
  post->push("d");
  EXPECT_GT(post->dropped(), 0u);
}

namespace {

// A session whose requests get trace context, and the body one request is forwarded with.
struct traced {
  fixture f;
  trace::settings tracing;
  std::string forward(const std::string& body, trace::carried carried = {}) {
    f.s->bind(principal{}, nullptr, &tracing);
    jsonrpc::envelope env = f.decoder.decode(body);
    std::int64_t up = -1;
    std::string sent = f.s->map_client_request(body, env, up, &carried);
    // The header lines http_backend::build_head writes from these values.
    const session::trace_values trace = f.s->trace_of(up);
    headers.clear();
    if (!trace.traceparent.empty()) {
      headers = "traceparent: " + std::string(trace.traceparent) + "\r\n";
      if (!trace.tracestate.empty()) {
        headers += "tracestate: " + std::string(trace.tracestate) + "\r\n";
      }
    }
    return sent;
  }
  std::string headers;
};

constexpr std::string_view incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// The traceparent the backend got in _meta, with the gateway's span replaced by "S".
std::string meta_of(const std::string& sent) {
  jsonrpc::decoder d;
  auto env = d.decode(sent);
  EXPECT_EQ(env.kind, jsonrpc::message_kind::request) << sent;
  std::string raw(env.traceparent.in(sent));
  return raw.size() == 57 ? raw.substr(0, 37) + "S" + raw.substr(53) : raw;
}

}  // namespace

TEST(SessionTrace, HeaderContextIsAddedToAnExistingMeta) {
  traced t;
  std::string sent = t.forward(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":"p"}}})",
      {incoming, "k=v", "rid"});
  EXPECT_EQ(meta_of(sent), R"("00-4bf92f3577b34da6a3ce929d0e0e4736-S-01")") << sent;
  EXPECT_NE(sent.find(R"("tracestate":"k=v","progressToken":0)"), std::string::npos) << sent;
  EXPECT_EQ(t.headers.substr(0, 49), "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-")
      << t.headers;
  EXPECT_NE(t.headers.find("tracestate: k=v\r\n"), std::string::npos);
  EXPECT_EQ(t.headers.find("00f067aa0ba902b7"), std::string::npos) << "the gateway's own span";
}

TEST(SessionTrace, MetaAndParamsAreCreatedWhereMissing) {
  traced t;
  for (std::string body : {
           std::string(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})"),
           std::string(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}})"),
           std::string(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}})"),
           std::string(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{}}})"),
           std::string(
               R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{ "_meta" : { } } })"),
       }) {
    std::string sent = t.forward(body, {incoming, {}, {}});
    EXPECT_EQ(meta_of(sent), R"("00-4bf92f3577b34da6a3ce929d0e0e4736-S-01")")
        << body << " -> " << sent;
  }
}

TEST(SessionTrace, MetaTraceparentWinsAndIsReplaced) {
  traced t;
  std::string sent = t.forward(
      R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"traceparent":"00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-00","tracestate":"a=1"}}})",
      {incoming, "k=v", {}});
  EXPECT_EQ(meta_of(sent), R"("00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-S-00")") << sent;
  EXPECT_NE(sent.find(R"("tracestate":"a=1")"), std::string::npos);
  EXPECT_EQ(sent.find("k=v"), std::string::npos) << "the header's state belongs to another trace";
  EXPECT_NE(t.headers.find("tracestate: a=1\r\n"), std::string::npos) << t.headers;
}

TEST(SessionTrace, WithoutContextANewTraceUnlessGenerateIsOff) {
  traced t;
  std::string sent = t.forward(R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  EXPECT_EQ(meta_of(sent).substr(0, 4), "\"00-") << sent;
  EXPECT_EQ(t.headers.size(), std::string("traceparent: \r\n").size() + 55) << t.headers;
  t.tracing.generate = false;
  sent = t.forward(R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
  EXPECT_EQ(sent, R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  EXPECT_EQ(t.headers, "");
}

TEST(SessionTrace, MetaOffSendsHeadersOnlyAndArrayParamsAreLeftAlone) {
  traced t;
  t.tracing.meta = false;
  std::string body = R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{}})";
  std::string sent = t.forward(body, {incoming, {}, {}});
  EXPECT_EQ(sent, R"({"jsonrpc":"2.0","id":0,"method":"ping","params":{}})");
  EXPECT_FALSE(t.headers.empty());
  t.tracing.meta = true;
  sent = t.forward(R"({"jsonrpc":"2.0","id":1,"method":"x","params":[1,2]})", {incoming, {}, {}});
  EXPECT_EQ(sent, R"({"jsonrpc":"2.0","id":1,"method":"x","params":[1,2]})");
  EXPECT_FALSE(t.headers.empty());
}
