// The gateway's own request type: what Beast's parser read carried over whole, field look-up
// by name or known field, set() as Beast's, keep-alive as Beast decides it, and values that
// survive copies, moves and a growing head.
#include "http/client_request.h"

#include "http/simple_http.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

using namespace mcpgw;

namespace {

http::request<http::string_body> beast_read(const std::string& data) {
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(data), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  return parser.release();
}

client_request simple_read(const std::string& data) {
  client_request req;
  std::size_t used = 0;
  EXPECT_EQ(parse_simple_request(data, {8192, 1 << 20}, req, used), simple_parse::parsed) << data;
  return req;
}

}  // namespace

TEST(ClientRequest, CarriesOverWhatBeastRead) {
  // Chunked: outside the simple parser's subset, so Beast reads it.
  const std::string data =
      "POST /mcp?x=1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-Dup: 1\r\n"
      "x-dup: 2\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
  http::request<http::string_body> message = beast_read(data);
  const client_request req = client_request::from(std::move(message));
  EXPECT_EQ(req.method(), http::verb::post);
  EXPECT_EQ(req.method_string(), "POST");
  EXPECT_EQ(req.target(), "/mcp?x=1");
  EXPECT_EQ(req.version(), 11u);
  ASSERT_EQ(req.field_count(), 4u);
  EXPECT_EQ(req.field(1).name, "Transfer-Encoding");
  EXPECT_EQ(req.field(3).name, "x-dup");
  EXPECT_EQ(req.field(3).value, "2");
  EXPECT_EQ(req.body(), "hello");
  EXPECT_EQ(req["X-DUP"], "1") << "the first of repeated fields, any case";
  EXPECT_EQ(req[http::field::host], "a");
  EXPECT_EQ(req["absent"], "");
  EXPECT_EQ(req[http::field::content_type], "");
  EXPECT_TRUE(req.keep_alive());
}

TEST(ClientRequest, KeepsAliveAsBeastDecides) {
  struct probe {
    std::string data;
    bool keep_alive;
  };
  const probe probes[] = {
      {"GET / HTTP/1.1\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nConnection: upgrade ,\t CLOSE \r\n\r\n", false},
      {"GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", true},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: foo, keep-alive\r\n\r\n", true},
  };
  for (const probe& p : probes) {
    SCOPED_TRACE(p.data);
    http::request<http::string_body> message = beast_read(p.data);
    EXPECT_EQ(message.keep_alive(), p.keep_alive) << "the table agrees with Beast";
    EXPECT_EQ(client_request::from(std::move(message)).keep_alive(), p.keep_alive);
    if (p.data.find("HTTP/1.1") != std::string::npos) {
      EXPECT_EQ(simple_read(p.data).keep_alive(), p.keep_alive);
    }
  }
}

TEST(ClientRequest, SetReplacesEveryFieldOfTheNameAndAddsItLast) {
  client_request req = simple_read(
      "GET /path HTTP/1.1\r\nX-Request-Id: bad id\r\nHost: a\r\nx-request-id: other\r\n\r\n");
  // Views taken before set() stay valid (the server holds the target and path across it).
  const std::string_view target = req.target();
  const std::string_view host = req["host"];
  EXPECT_EQ(req.set("X-Request-Id", "0123456789abcdef"), "0123456789abcdef");
  ASSERT_EQ(req.field_count(), 2u);
  EXPECT_EQ(req.field(0).name, "Host");
  EXPECT_EQ(req.field(1).name, "X-Request-Id");
  EXPECT_EQ(req["x-request-id"], "0123456789abcdef");
  const std::string_view id = req["x-request-id"];
  // A field that was absent is added; however long, nothing read before moves.
  EXPECT_EQ(req.set("traceparent", std::string(4000, 't')), std::string(4000, 't'))
      << "the value as stored, past the head's room";
  EXPECT_EQ(req["Traceparent"], std::string(4000, 't'));
  EXPECT_EQ(target, "/path");
  EXPECT_EQ(host, "a");
  EXPECT_EQ(id, "0123456789abcdef");
  EXPECT_EQ(req.method(), http::verb::get);
  // A copy reads its own added fields.
  const client_request copy = req;
  req.set("traceparent", "changed");
  EXPECT_EQ(copy["traceparent"], std::string(4000, 't'));
  EXPECT_EQ(copy["x-request-id"], "0123456789abcdef");
  EXPECT_EQ(req["traceparent"], "changed");
}

TEST(ClientRequest, AMintedRequestIdIsStoredInTheHeadsRoom) {
  // The head is copied with room for the X-Request-Id the server mints: set() writes it there,
  // next to the request line, without an allocation of its own.
  client_request req = simple_read("POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
  const std::string_view target = req.target();
  const std::string_view id = req.set("X-Request-Id", "0123456789abcdef");
  const auto at = reinterpret_cast<std::uintptr_t>(id.data());
  const auto head = reinterpret_cast<std::uintptr_t>(target.data());
  EXPECT_GT(at, head);
  EXPECT_LT(at, head + 200) << "the value is in the head's buffer";
  EXPECT_EQ(target, "/mcp");
}

TEST(ClientRequest, FieldsSetInAndPastTheHeadsRoomAllStayReadable) {
  client_request req = simple_read("GET /t HTTP/1.1\r\nHost: a\r\n\r\n");
  const std::string_view target = req.target();
  std::vector<std::string_view> values;
  for (int i = 0; i < 12; ++i) {  // 12 fields of 13 bytes: the first few fit the room
    const std::string name = "X-" + std::to_string(i + 10);
    req.set(name, "value-" + std::to_string(i + 100));
    values.push_back(req[name]);
  }
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(values[static_cast<std::size_t>(i)], "value-" + std::to_string(i + 100));
    EXPECT_EQ(req["x-" + std::to_string(i + 10)], "value-" + std::to_string(i + 100));
  }
  EXPECT_EQ(target, "/t");
  EXPECT_EQ(req.field_count(), 13u);
  const client_request copy = req;
  EXPECT_EQ(copy["X-21"], "value-111");
  EXPECT_EQ(copy["X-10"], "value-100");
}

TEST(ClientRequest, ValuesSurviveCopiesAndMoves) {
  client_request original = simple_read(
      "POST /mcp HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  client_request copy = original;
  client_request moved = std::move(original);
  for (const client_request* r : {&copy, &moved}) {
    EXPECT_EQ((*r)[http::field::content_type], "application/json");
    EXPECT_EQ(r->target(), "/mcp");
    EXPECT_EQ(r->method_string(), "POST");
    EXPECT_EQ(r->body(), "{}");
  }
  // A request Beast does not know the method of keeps its name.
  const client_request purge = simple_read("PURGE /cache HTTP/1.1\r\n\r\n");
  EXPECT_EQ(purge.method(), http::verb::purge);
  const client_request odd = simple_read("FROB /x HTTP/1.1\r\n\r\n");
  EXPECT_EQ(odd.method(), http::verb::unknown);
  EXPECT_EQ(odd.method_string(), "FROB");
}

TEST(ClientRequest, OneObjectServesAConnectionsRequestsInTurn) {
  // The server parses each request of a connection into the same object: nothing of the
  // previous request may show through, and its buffers are reused but not kept when large.
  client_request req;
  std::size_t used = 0;
  const std::string first = "POST /mcp HTTP/1.1\r\nHost: a\r\nX-First: 1\r\nContent-Length: " +
                            std::to_string(100 * 1024) + "\r\n\r\n" + std::string(100 * 1024, 'b');
  ASSERT_EQ(parse_simple_request(first, {8192, 1 << 20}, req, used), simple_parse::parsed);
  req.set("X-Long", std::string(200, 'l'));  // past the head's room: a node of its own
  EXPECT_EQ(req["x-long"], std::string(200, 'l'));
  EXPECT_GE(req.body().capacity(), 100u * 1024);
  const std::string second = "GET /sse HTTP/1.1\r\nHost: b\r\n\r\n";
  ASSERT_EQ(parse_simple_request(second, {8192, 1 << 20}, req, used), simple_parse::parsed);
  EXPECT_EQ(req.method(), http::verb::get);
  EXPECT_EQ(req.target(), "/sse");
  EXPECT_EQ(req["host"], "b");
  EXPECT_EQ(req["x-first"], "");
  EXPECT_EQ(req["x-long"], "");
  EXPECT_EQ(req.field_count(), 1u);
  EXPECT_TRUE(req.body().empty());
  EXPECT_LT(req.body().capacity(), 100u * 1024) << "a large body's buffer is not kept";
  // And a small body's buffer is: the third request's body fits where the second left room.
  const std::string third =
      "POST /mcp HTTP/1.1\r\nHost: c\r\nContent-Length: 40\r\n\r\n" + std::string(40, 'c');
  ASSERT_EQ(parse_simple_request(third, {8192, 1 << 20}, req, used), simple_parse::parsed);
  req.set("X-Request-Id", "0123456789abcdef");
  const std::string fourth =
      "POST /mcp HTTP/1.1\r\nHost: d\r\nContent-Length: 30\r\n\r\n" + std::string(30, 'd');
  const char* before = req.body().data();
  ASSERT_EQ(parse_simple_request(fourth, {8192, 1 << 20}, req, used), simple_parse::parsed);
  EXPECT_EQ(req.body().data(), before) << "the body buffer was reused";
  EXPECT_EQ(req.body(), std::string(30, 'd'));
  EXPECT_EQ(req["x-request-id"], "");
  EXPECT_EQ(req["host"], "d");
}
