// parse_simple_request and parse_simple_response against Beast's parser: every request it takes
// must come out exactly as Beast reads it (method, target, version, fields in order, body,
// keep-alive, bytes used), and every request outside its subset must be declined untouched, for
// Beast to read.
#include "http/simple_http.h"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/parser.hpp>
#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <utility>
#include <vector>

using namespace mcpgw;

namespace {

const simple_request_limits limits{8192, 1 << 20};

template <bool isRequest>
struct beast_result {
  http::message<isRequest, http::string_body> message;
  std::size_t used = 0;
};

// Beast's reading of the whole message at the start of `data` (a request under `limits`).
template <bool isRequest>
beast_result<isRequest> beast_parse(const std::string& data) {
  http::parser<isRequest, http::string_body> parser;
  parser.eager(true);
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header));
  parser.body_limit(limits.max_body);
  boost::system::error_code ec;
  beast_result<isRequest> out;
  out.used = parser.put(boost::asio::buffer(data), ec);
  EXPECT_FALSE(ec) << ec.message() << " for " << data;
  EXPECT_TRUE(parser.is_done()) << data;
  out.message = parser.release();
  return out;
}

// `n` field lines "X-F<i>: v".
std::string field_lines(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += "X-F" + std::to_string(i) + ": v\r\n";
  }
  return out;
}

// The gateway's request's fields, in order.
std::vector<std::pair<std::string, std::string>> fields_of(const client_request& req) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; i < req.field_count(); ++i) {
    out.emplace_back(std::string(req.field(i).name), std::string(req.field(i).value));
  }
  return out;
}

// A Beast message's fields, in order.
template <bool isRequest>
std::vector<std::pair<std::string, std::string>> fields_of(
    const http::message<isRequest, http::string_body>& message) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : message) {
    out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  return out;
}

void expect_same_as_beast(const std::string& data) {
  SCOPED_TRACE(data);
  client_request req;
  std::size_t used = 0;
  ASSERT_EQ(parse_simple_request(data, limits, req, used), simple_parse::parsed);
  const auto beast = beast_parse<true>(data);
  EXPECT_EQ(used, beast.used);
  EXPECT_EQ(req.method(), beast.message.method());
  EXPECT_EQ(req.method_string(), beast.message.method_string());
  EXPECT_EQ(req.target(), beast.message.target());
  EXPECT_EQ(req.version(), beast.message.version());
  EXPECT_EQ(fields_of(req), fields_of(beast.message));
  EXPECT_EQ(req.body(), beast.message.body());
  EXPECT_EQ(req.keep_alive(), beast.message.keep_alive());
  EXPECT_EQ(req[http::field::content_type], beast.message[http::field::content_type]);
}

void expect_declined(const std::string& data, simple_request_limits with = limits) {
  SCOPED_TRACE(data);
  client_request req;
  std::size_t used = 0;
  EXPECT_EQ(parse_simple_request(data, with, req, used), simple_parse::declined);
  EXPECT_EQ(req.field_count(), 0u) << "a declined request leaves no fields behind";
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
  client_request req;
  std::size_t used = 0;
  ASSERT_EQ(parse_simple_request(both, limits, req, used), simple_parse::parsed);
  EXPECT_EQ(used, mcp_post.size());
  EXPECT_EQ(req.body().size(), 58u);
  client_request next;
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
  client_request req;
  std::size_t used = 0;
  EXPECT_EQ(parse_simple_request(get, {get.size() + 1, 1024}, req, used), simple_parse::parsed);
  // The body limit: a Content-Length at or over it goes to Beast, which answers 413.
  expect_declined(mcp_post, {8192, 58});
  expect_declined(mcp_post, {8192, 10});
  client_request fits;
  EXPECT_EQ(parse_simple_request(mcp_post, {8192, 59}, fits, used), simple_parse::parsed);
  // More fields than it takes.
  expect_declined("GET / HTTP/1.1\r\n" + field_lines(49) + "\r\n");
  expect_same_as_beast("GET / HTTP/1.1\r\n" + field_lines(48) + "\r\n");
}

// ---------------------------------------------------------------------------------------------
// Responses

namespace {

constexpr std::uint64_t max_response_body = 1 << 20;

void expect_response_same_as_beast(const std::string& data) {
  SCOPED_TRACE(data);
  simple_response mine;
  std::size_t used = 0;
  ASSERT_EQ(parse_simple_response(data, max_response_body, mine, used), simple_parse::parsed);
  const auto beast = beast_parse<false>(data);
  EXPECT_EQ(used, beast.used);
  EXPECT_EQ(mine.status, beast.message.result_int());
  EXPECT_EQ(mine.keep_alive, beast.message.keep_alive());
  EXPECT_EQ(mine.body, beast.message.body());
  std::vector<std::pair<std::string, std::string>> fields;
  for (std::size_t i = 0; i < mine.field_count; ++i) {
    fields.emplace_back(mine.fields[i].first, mine.fields[i].second);
  }
  EXPECT_EQ(fields, fields_of(beast.message));
  for (const auto& f : beast.message) {
    // The first field of each name, looked up in any case.
    std::string upper(f.name_string());
    for (char& c : upper) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    EXPECT_EQ(mine.field(upper), beast.message[f.name_string()]);
  }
}

void expect_response_declined(const std::string& data, std::uint64_t max_body = max_response_body) {
  SCOPED_TRACE(data);
  simple_response mine;
  std::size_t used = 0;
  EXPECT_EQ(parse_simple_response(data, max_body, mine, used), simple_parse::declined);
  EXPECT_EQ(mine.field_count, 0u);
  EXPECT_TRUE(mine.body.empty());
}

const std::string json_answer =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "mcp-session-id: 6b1f\r\n"
    "Date: Mon, 07 Dec 2026 07:00:00 GMT\r\n"
    "Content-Length: 38\r\n"
    "\r\n"
    R"({"jsonrpc":"2.0","id":7,"result":{}}  )";

}  // namespace

TEST(SimpleResponse, ParsesABackendAnswerAsBeastDoes) {
  const std::vector<std::string> answers = {
      json_answer,
      "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 9\r\n\r\nnot found",
      "HTTP/1.1 503 \r\nconnection: Keep-Alive\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 Fine \xc3\xa9\r\nContent-Type: text/event-stream\r\nX-A:  a \t\r\n"
      "Content-Length: 26\r\n\r\nevent: message\ndata: {}\n\n\n",
  };
  for (const auto& a : answers) {
    expect_response_same_as_beast(a);
  }
  simple_response r;
  std::size_t used = 0;
  ASSERT_EQ(parse_simple_response(json_answer, max_response_body, r, used), simple_parse::parsed);
  EXPECT_EQ(r.field("Mcp-Session-Id"), "6b1f");
  EXPECT_EQ(r.field("content-type"), "application/json");
  EXPECT_EQ(r.field("x-missing"), "");
}

TEST(SimpleResponse, LeavesTheBytesAfterItAndCopiesWhatItKeeps) {
  std::string data = json_answer + "HTTP/1.1 200 OK\r\n";
  simple_response r;
  std::size_t used = 0;
  ASSERT_EQ(parse_simple_response(data, max_response_body, r, used), simple_parse::parsed);
  EXPECT_EQ(used, json_answer.size());
  data.assign(data.size(), 'x');  // the connection's buffer is reused: the fields are copies
  EXPECT_EQ(r.field("mcp-session-id"), "6b1f");
  EXPECT_EQ(r.body, R"({"jsonrpc":"2.0","id":7,"result":{}}  )");
}

TEST(SimpleResponse, DeclinesWhatBeastMustRead) {
  for (std::size_t cut = 0; cut < json_answer.size(); ++cut) {
    expect_response_declined(json_answer.substr(0, cut));
  }
  const std::vector<std::string> answers = {
      // Bodies framed otherwise: chunked, to the close, none by status.
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: {}\n\n",
      "HTTP/1.1 204 No Content\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 199 X\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 600 X\r\nContent-Length: 0\r\n\r\n",
      // Versions and status lines.
      "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n",
      // Connection values other than keep-alive or close, framing fields Beast judges.
      "HTTP/1.1 200 OK\r\nConnection: upgrade\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
      "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\n{}",
      // Fields.
      "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
  };
  for (const auto& a : answers) {
    expect_response_declined(a);
  }
  // A body over the exchange's limit (it fails the exchange as too large), more fields than
  // it keeps, a head over max_head.
  expect_response_declined(json_answer, 37);
  simple_response fits;
  std::size_t used = 0;
  EXPECT_EQ(parse_simple_response(json_answer, 38, fits, used), simple_parse::parsed);
  expect_response_declined("HTTP/1.1 200 OK\r\n" + field_lines(24) + "Content-Length: 0\r\n\r\n");
  expect_response_same_as_beast("HTTP/1.1 200 OK\r\n" + field_lines(23) +
                                "Content-Length: 0\r\n\r\n");
  expect_response_declined(
      "HTTP/1.1 200 OK\r\nX-Big: " + std::string(simple_response::max_head, 'b') +
      "\r\nContent-Length: 0\r\n\r\n");
}
