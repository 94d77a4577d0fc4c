// parse_simple_request against Beast's parser: every request it takes must come out exactly as
// Beast reads it (method, target, version, fields in order, body, keep-alive, bytes used), and
// every request outside its subset must be declined untouched, for Beast to read.
#include "http/simple_request.h"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/parser.hpp>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

using namespace mcpgw;

namespace {

const simple_request_limits limits{8192, 1 << 20};

struct beast_result {
  http::request<http::string_body> req;
  std::size_t used = 0;
};

// Beast's reading of the whole request at the start of `data`.
beast_result beast_parse(const std::string& data) {
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header));
  parser.body_limit(limits.max_body);
  boost::system::error_code ec;
  beast_result out;
  out.used = parser.put(boost::asio::buffer(data), ec);
  EXPECT_FALSE(ec) << ec.message() << " for " << data;
  EXPECT_TRUE(parser.is_done()) << data;
  out.req = parser.release();
  return out;
}

std::vector<std::pair<std::string, std::string>> fields_of(
    const http::request<http::string_body>& req) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : req) {
    out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  return out;
}

void expect_same_as_beast(const std::string& data) {
  SCOPED_TRACE(data);
  http::request<http::string_body> req;
  std::size_t used = 0;
  ASSERT_EQ(parse_simple_request(data, limits, req, used), simple_parse::parsed);
  const beast_result beast = beast_parse(data);
  EXPECT_EQ(used, beast.used);
  EXPECT_EQ(req.method(), beast.req.method());
  EXPECT_EQ(req.method_string(), beast.req.method_string());
  EXPECT_EQ(req.target(), beast.req.target());
  EXPECT_EQ(req.version(), beast.req.version());
  EXPECT_EQ(fields_of(req), fields_of(beast.req));
  EXPECT_EQ(req.body(), beast.req.body());
  EXPECT_EQ(req.keep_alive(), beast.req.keep_alive());
  EXPECT_EQ(req[http::field::content_type], beast.req[http::field::content_type]);
}

void expect_declined(const std::string& data, simple_request_limits with = limits) {
  SCOPED_TRACE(data);
  http::request<http::string_body> req;
  std::size_t used = 0;
  EXPECT_EQ(parse_simple_request(data, with, req, used), simple_parse::declined);
  EXPECT_EQ(req.begin(), req.end()) << "a declined request leaves no fields behind";
  EXPECT_TRUE(req.target().empty());
  EXPECT_TRUE(req.body().empty());
}

const std::string mcp_post =
    "POST /mcp HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "Content-Type: application/json\r\n"
    "Accept: application/json, text/event-stream\r\n"
    "Mcp-Session-Id: 2c7d4e1a9b0f4c3d8e6a5b4c3d2e1f00\r\n"
    "MCP-Protocol-Version: 2025-11-25\r\n"
    "Authorization: Bearer benchkey123\r\n"
    "Content-Length: 58\r\n"
    "\r\n"
    R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}})";

}  // namespace

TEST(SimpleRequest, ParsesAnMcpPostAsBeastDoes) {
  ASSERT_EQ(std::string(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}})").size(),
            58u);
  expect_same_as_beast(mcp_post);
}

TEST(SimpleRequest, ParsesWhatBeastTakesTheSameWay) {
  const std::vector<std::string> requests = {
      // No body, GET and DELETE, a query string.
      "GET /mcp?x=1&y=%20 HTTP/1.1\r\nHost: a\r\nAccept: text/event-stream\r\n\r\n",
      "DELETE /mcp HTTP/1.1\r\nHost: a\r\nMcp-Session-Id: abc\r\n\r\n",
      // Values: surrounding spaces and tabs trimmed, inner ones kept, empty, obs-text, long.
      "GET / HTTP/1.1\r\nHost:a\r\nX-A:  \t spaced\tinside \t \r\nX-Empty:\r\nX-Empty2:   \r\n\r\n",
      "GET / HTTP/1.1\r\nX-Latin: caf\xc3\xa9 \xff\x80\r\nX-Long: "
      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n\r\n",
      // Names of every token character, repeated fields kept in order, any case.
      "GET / HTTP/1.1\r\nX-!#$%&'*+.^_`|~09az: 1\r\nx-dup: 1\r\nX-DUP: 2\r\n\r\n",
      "GET / HTTP/1.1\r\ncontent-type: application/json\r\nCONTENT-LENGTH: 0\r\n\r\n",
      // A method Beast does not know, Connection: close.
      "PURGE /cache HTTP/1.1\r\nConnection: close\r\n\r\n",
      // Content-Length with leading zeros, a body with CRLFs in it.
      "POST /mcp HTTP/1.1\r\nContent-Length: 007\r\n\r\nab\r\n\r\ncd",
      mcp_post,
  };
  for (const auto& r : requests) {
    expect_same_as_beast(r);
  }
}

TEST(SimpleRequest, UsesOnlyItsOwnBytesOfPipelinedRequests) {
  const std::string second = "GET /second HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string both = mcp_post + second;
  http::request<http::string_body> req;
  std::size_t used = 0;
  ASSERT_EQ(parse_simple_request(both, limits, req, used), simple_parse::parsed);
  EXPECT_EQ(used, mcp_post.size());
  EXPECT_EQ(req.body().size(), 58u);
  http::request<http::string_body> next;
  ASSERT_EQ(parse_simple_request(std::string_view(both).substr(used), limits, next, used),
            simple_parse::parsed);
  EXPECT_EQ(next.target(), "/second");
  EXPECT_EQ(used, second.size());
}

TEST(SimpleRequest, DeclinesWhatIsNotAllReadYet) {
  for (std::size_t cut = 0; cut < mcp_post.size(); ++cut) {
    expect_declined(mcp_post.substr(0, cut));
  }
}

TEST(SimpleRequest, DeclinesWhatBeastMustJudge) {
  const std::vector<std::string> requests = {
      // Framing and protocol features left to Beast.
      "POST /mcp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      "POST /mcp HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
      "POST /mcp HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
      "GET / HTTP/1.0\r\nHost: a\r\n\r\n",
      "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
      "GET /\r\n\r\n",
      // Content-Length twice (even equal), empty, not digits, too long, signed.
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
      "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\nx",
      "POST / HTTP/1.1\r\nContent-Length: 1 1\r\n\r\nx",
      "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\nx",
      "POST / HTTP/1.1\r\nContent-Length: 9999999999999999999\r\n\r\nx",
      // Line ends and folding.
      "GET / HTTP/1.1\nHost: a\n\n",
      "GET / HTTP/1.1\r\nHost: a\n\r\n",
      "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n",
      "GET / HTTP/1.1\r\nX-A: a\nb\r\n\r\n",
      "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
      "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
      // Names and values.
      "GET / HTTP/1.1\r\nX-A : a\r\n\r\n",
      "GET / HTTP/1.1\r\n: a\r\n\r\n",
      "GET / HTTP/1.1\r\nX(A): a\r\n\r\n",
      "GET / HTTP/1.1\r\nX-A a\r\n\r\n",
      std::string("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 28),
      "GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n",
      "GET / HTTP/1.1\r\nX-Long: 0123456789abcdef0123\x01"
      "456789abcdef\r\n\r\n",
      "GET / HTTP/1.1\r\nX-Long: 0123456789abcdef0123456789abcdef\x1b\r\n\r\n",
      // The request line.
      "GET  / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1 \r\n\r\n",
      "G(T / HTTP/1.1\r\n\r\n",
      "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n",
      " GET / HTTP/1.1\r\n\r\n",
  };
  for (const auto& r : requests) {
    expect_declined(r);
  }
}

TEST(SimpleRequest, DeclinesRequestsAtOrOverTheLimits) {
  // The header limit: a head of exactly the limit (and over it) goes to Beast, which answers 431.
  const std::string get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  expect_declined(get, {get.size(), 1024});
  expect_declined(get, {get.size() - 1, 1024});
  expect_declined(get, {0, 1024});
  http::request<http::string_body> req;
  std::size_t used = 0;
  EXPECT_EQ(parse_simple_request(get, {get.size() + 1, 1024}, req, used), simple_parse::parsed);
  // The body limit: a Content-Length at or over it goes to Beast, which answers 413.
  expect_declined(mcp_post, {8192, 58});
  expect_declined(mcp_post, {8192, 10});
  http::request<http::string_body> fits;
  EXPECT_EQ(parse_simple_request(mcp_post, {8192, 59}, fits, used), simple_parse::parsed);
  // More fields than it takes.
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 49; ++i) {
    many += "X-F" + std::to_string(i) + ": v\r\n";
  }
  expect_declined(many + "\r\n");
  std::string enough = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 48; ++i) {
    enough += "X-F" + std::to_string(i) + ": v\r\n";
  }
  expect_same_as_beast(enough + "\r\n");
}
