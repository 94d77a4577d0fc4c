// RESP framing and the pipeline's books, without a socket.
#include "store/resp.h"

#include "store/redis_options.h"
#include "store/session_store.h"

#include "mcpgw/jsonrpc.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace mcpgw {
namespace {

struct collected {
  std::vector<std::pair<std::uint64_t, redis_reply>> replies;
  std::function<void(std::uint64_t, redis_reply&&)> sink() {
    return [this](std::uint64_t n, redis_reply&& r) { replies.emplace_back(n, std::move(r)); };
  }
};

TEST(RespPipeline, FormatsCommandsAsBulkStringArrays) {
  resp_pipeline p;
  std::array<std::string_view, 3> set{"SET", "k", std::string_view("a\r\nb", 4)};
  EXPECT_EQ(p.enqueue(set), 1U);
  std::array<std::string_view, 2> get{"GET", "k"};
  EXPECT_EQ(p.enqueue(get), 2U);
  EXPECT_EQ(p.take_output(),
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  EXPECT_FALSE(p.has_output());
  EXPECT_EQ(p.waiting(), 2U);
}

TEST(RespPipeline, MatchesRepliesToCommandsInOrderAcrossSplitReads) {
  resp_pipeline p;
  std::array<std::string_view, 1> ping{"PING"};
  p.enqueue(ping);
  p.enqueue(ping);
  p.enqueue(ping);
  p.take_output();
  collected got;
  std::string error;
  std::string bytes = "+OK\r\n$5\r\nhello\r\n*2\r\n:42\r\n$-1\r\n";
  // Every split point: a reply cut anywhere is completed by the next read.
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    resp_pipeline q;
    q.enqueue(ping);
    q.enqueue(ping);
    q.enqueue(ping);
    collected parts;
    ASSERT_TRUE(q.feed(std::string_view(bytes).substr(0, cut), parts.sink(), error)) << cut;
    ASSERT_TRUE(q.feed(std::string_view(bytes).substr(cut), parts.sink(), error)) << cut;
    ASSERT_EQ(parts.replies.size(), 3U) << cut;
  }
  ASSERT_TRUE(p.feed(bytes, got.sink(), error)) << error;
  ASSERT_EQ(got.replies.size(), 3U);
  EXPECT_EQ(got.replies[0].first, 1U);
  EXPECT_EQ(got.replies[0].second.type, redis_reply::kind::status);
  EXPECT_EQ(got.replies[0].second.str, "OK");
  EXPECT_EQ(got.replies[1].second.type, redis_reply::kind::string);
  EXPECT_EQ(got.replies[1].second.str, "hello");
  const redis_reply& array = got.replies[2].second;
  ASSERT_EQ(array.type, redis_reply::kind::array);
  ASSERT_EQ(array.elements.size(), 2U);
  EXPECT_EQ(array.elements[0].integer, 42);
  EXPECT_EQ(array.elements[1].type, redis_reply::kind::nil);
  EXPECT_EQ(p.waiting(), 0U);
}

TEST(RespPipeline, ErrorRepliesAreRepliesNotFailures) {
  resp_pipeline p;
  std::array<std::string_view, 1> cmd{"NOSUCH"};
  p.enqueue(cmd);
  collected got;
  std::string error;
  ASSERT_TRUE(p.feed("-ERR unknown command 'NOSUCH'\r\n", got.sink(), error));
  ASSERT_EQ(got.replies.size(), 1U);
  EXPECT_TRUE(got.replies[0].second.is_error());
  EXPECT_EQ(got.replies[0].second.str, "ERR unknown command 'NOSUCH'");
}

TEST(RespPipeline, RefusesAReplyNobodyAskedFor) {
  resp_pipeline p;
  collected got;
  std::string error;
  EXPECT_FALSE(p.feed("+OK\r\n", got.sink(), error));
  EXPECT_EQ(error, "a reply to no command");
}

TEST(RespPipeline, RefusesBytesThatAreNotResp) {
  resp_pipeline p;
  std::array<std::string_view, 1> ping{"PING"};
  p.enqueue(ping);
  collected got;
  std::string error;
  EXPECT_FALSE(p.feed("HTTP/1.1 400 Bad Request\r\n", got.sink(), error));
  EXPECT_NE(error.find("not a RESP reply"), std::string::npos) << error;
}

TEST(RespPipeline, ResetReturnsWhatWasNotAnswered) {
  resp_pipeline p;
  std::array<std::string_view, 1> ping{"PING"};
  p.enqueue(ping);
  p.enqueue(ping);
  p.enqueue(ping);
  collected got;
  std::string error;
  ASSERT_TRUE(p.feed("+PONG\r\n+PO", got.sink(), error));
  EXPECT_EQ(p.reset(), (std::vector<std::uint64_t>{2, 3}));
  EXPECT_FALSE(p.has_output());
  // The half-read reply is gone with the connection: a fresh one parses cleanly.
  p.enqueue(ping);
  ASSERT_TRUE(p.feed("+PONG\r\n", got.sink(), error)) << error;
  EXPECT_EQ(got.replies.back().first, 4U);
}

TEST(RedisUrl, ReadsHostPortDatabaseAndCredentials) {
  redis_options o;
  std::string error;
  ASSERT_TRUE(parse_redis_url("redis://127.0.0.1:6380/2", o, error)) << error;
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.db, 2);
  EXPECT_TRUE(o.password.empty());
  ASSERT_TRUE(parse_redis_url("redis://:s3cret@redis.internal", o, error)) << error;
  EXPECT_EQ(o.host, "redis.internal");
  EXPECT_EQ(o.port, 6379);
  EXPECT_EQ(o.db, 0);
  EXPECT_EQ(o.password, "s3cret");
  EXPECT_TRUE(o.username.empty());
  ASSERT_TRUE(parse_redis_url("redis://gw:pw@[::1]:7000/", o, error)) << error;
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 7000);
  EXPECT_EQ(o.username, "gw");
  EXPECT_EQ(o.password, "pw");
}

TEST(RedisUrl, NamesWhatIsWrong) {
  redis_options o;
  std::string error;
  EXPECT_FALSE(parse_redis_url("http://127.0.0.1:6379", o, error));
  EXPECT_NE(error.find("redis://"), std::string::npos) << error;
  EXPECT_FALSE(parse_redis_url("rediss://cache.example:6380", o, error));
  EXPECT_NE(error.find("TLS"), std::string::npos) << error;
  EXPECT_FALSE(parse_redis_url("redis://127.0.0.1/x", o, error));
  EXPECT_NE(error.find("database number"), std::string::npos) << error;
  EXPECT_FALSE(parse_redis_url("redis://127.0.0.1:0", o, error));
  EXPECT_NE(error.find("port"), std::string::npos) << error;
  EXPECT_FALSE(parse_redis_url("redis://127.0.0.1:6379/0?timeout=1", o, error));
  EXPECT_FALSE(parse_redis_url("not a url", o, error));
}

TEST(SessionRecord, RoundTripsEveryField) {
  session_record r;
  r.id = "0123abcd";
  r.route = "/mcp/a:b";
  r.backend = "demo";
  r.upstream_id = "12:34;56";
  r.protocol_version = "2025-06-18";
  r.client_capabilities = R"({"sampling":{},"roots":{"listChanged":true}})";
  r.replica = "http://10.0.0.2:3000/mcp";
  r.owner = "";
  r.who.via = principal::method::jwt;
  r.who.tenant = "acme";
  r.who.subject = std::string("user\0with nul", 13);
  r.who.issuer = "https://idp.example";
  auto back = decode_session_record(encode_session_record(r));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->id, r.id);
  EXPECT_EQ(back->route, r.route);
  EXPECT_EQ(back->upstream_id, r.upstream_id);
  EXPECT_EQ(back->protocol_version, r.protocol_version);
  EXPECT_EQ(back->client_capabilities, r.client_capabilities);
  EXPECT_EQ(back->replica, r.replica);
  EXPECT_EQ(back->owner, "");
  EXPECT_TRUE(back->who.same_as(r.who));
}

TEST(SessionRecord, RefusesDamagedRecords) {
  session_record r;
  r.id = "x";
  std::string good = encode_session_record(r);
  EXPECT_TRUE(decode_session_record(good).has_value());
  EXPECT_FALSE(decode_session_record(good.substr(0, good.size() - 1)).has_value());
  EXPECT_FALSE(decode_session_record(good + "1:x").has_value());
  EXPECT_FALSE(decode_session_record("mcpgw-session/2;" + good.substr(16)).has_value());
  std::string bad_via = good;
  bad_via.replace(bad_via.find("4:none"), 6, "4:root");
  EXPECT_FALSE(decode_session_record(bad_via).has_value());
  EXPECT_FALSE(decode_session_record("mcpgw-session/1;99999999999999999999:x").has_value());
}

TEST(ClientCapabilities, ReadsParamsCapabilitiesAsWritten) {
  EXPECT_EQ(
      jsonrpc::client_capabilities(
          R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{}, "elicitation":{"form":{}}},"clientInfo":{"name":"x","version":"1"}}})"),
      R"({"sampling":{}, "elicitation":{"form":{}}})");
  EXPECT_EQ(jsonrpc::client_capabilities(R"({"jsonrpc":"2.0","id":0,"method":"initialize"})"),
            "{}");
  EXPECT_EQ(jsonrpc::client_capabilities("not json"), "{}");
  EXPECT_EQ(jsonrpc::client_capabilities(R"({"params":{"capabilities":7}})"), "{}");
}

}  // namespace
}  // namespace mcpgw
