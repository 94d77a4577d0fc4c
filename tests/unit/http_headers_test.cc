#include "mcpgw/http_headers.h"

#include "http/field_lookup.h"

#include <boost/beast/http/fields.hpp>
#include <gtest/gtest.h>

using namespace mcpgw::http_headers;

TEST(HttpHeaders, AcceptListsInAnyOrderAndCase) {
  auto a = parse_accept("application/json, text/event-stream");
  EXPECT_TRUE(a.json && a.event_stream);
  a = parse_accept("Text/Event-Stream;q=0.9 ,APPLICATION/JSON");
  EXPECT_TRUE(a.json && a.event_stream);
}

TEST(HttpHeaders, AcceptWildcardsAndQZero) {
  auto a = parse_accept("*/*");
  EXPECT_TRUE(a.json && a.event_stream);
  a = parse_accept("application/*, text/*;q=0");
  EXPECT_TRUE(a.json);
  EXPECT_FALSE(a.event_stream);
  a = parse_accept("application/json");
  EXPECT_FALSE(a.event_stream);
  a = parse_accept("");
  EXPECT_FALSE(a.json || a.event_stream);
}

TEST(HttpHeaders, JsonContentTypeIgnoresParameters) {
  EXPECT_TRUE(is_json_content_type("application/json"));
  EXPECT_TRUE(is_json_content_type("Application/JSON; charset=utf-8"));
  EXPECT_FALSE(is_json_content_type("text/plain"));
  EXPECT_FALSE(is_json_content_type("application/jsonx"));
  EXPECT_FALSE(is_json_content_type(""));
}

TEST(HttpHeaders, ProtocolVersionsAreCheckedAgainstTheSupportedSet) {
  EXPECT_TRUE(is_supported_protocol_version("2025-03-26"));
  EXPECT_TRUE(is_supported_protocol_version("2025-06-18"));
  EXPECT_TRUE(is_supported_protocol_version("2025-11-25"));
  EXPECT_FALSE(is_supported_protocol_version("1999-01-01"));
  EXPECT_EQ(negotiate_protocol_version("2025-06-18"), "2025-06-18");
  EXPECT_EQ(negotiate_protocol_version("2030-01-01"), "2025-11-25");
}

TEST(HttpHeaders, HostOfAuthority) {
  EXPECT_EQ(host_of_authority("LocalHost:8080"), "localhost");
  EXPECT_EQ(host_of_authority("[::1]:80"), "::1");
  EXPECT_EQ(host_of_authority("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(host_of_authority("evil.example.com:x"), "");
  EXPECT_EQ(host_of_authority("[::1"), "");
  EXPECT_EQ(host_of_authority("a@b"), "");
}

TEST(HttpHeaders, HostAllowList) {
  const std::vector<std::string> hosts = {"127.0.0.1", "localhost", "::1"};
  // Compared in place: any case, with or without a port, never a malformed authority.
  const std::pair<std::string_view, bool> cases[] = {
      {"127.0.0.1:9000", true}, {"[::1]:9000", true},        {" LocalHost:80 ", true},
      {"[::1]", true},          {"evil.example.com", false}, {"", false},
      {"localhost:", false},    {"localhost:8o", false},     {"[::1]x", false},
      {"[::1", false},          {"user@localhost", false},   {"localhost/x", false},
      {"localhostx", false}};
  for (const auto& [header, allowed] : cases) {
    EXPECT_EQ(host_allowed(header, hosts), allowed) << "Host: '" << header << "'";
  }
  EXPECT_FALSE(host_allowed("127.0.0.1", {"localhost"}));
  EXPECT_TRUE(host_allowed("anything.example:1", {"*"}));
  EXPECT_FALSE(host_allowed("a b", {"*"})) << "malformed even when every host is allowed";
}

TEST(HttpHeaders, OriginDefaultsToAllowedHostsAndOtherwiseToTheExactList) {
  std::vector<std::string> hosts = {"127.0.0.1", "localhost"};
  EXPECT_TRUE(origin_allowed("http://localhost:3000", {}, hosts));
  EXPECT_FALSE(origin_allowed("http://evil.example.com", {}, hosts));
  EXPECT_FALSE(origin_allowed("null", {}, hosts));
  std::vector<std::string> origins = {"https://app.example.com"};
  EXPECT_TRUE(origin_allowed("https://app.example.com", origins, hosts));
  EXPECT_FALSE(origin_allowed("http://localhost:3000", origins, hosts));
}

TEST(HttpHeaders, FieldLookupFindsTheFirstValueInAnyCase) {
  namespace http = boost::beast::http;
  http::fields f;
  f.insert(http::field::content_type, "application/json");
  f.insert("Mcp-Session-Id", "first");
  f.insert("mcp-session-id", "second");
  f.insert("X-Request-Id", "abc");
  using mcpgw::http_lookup::value_of;
  EXPECT_EQ(value_of(f, http::field::content_type), "application/json");
  EXPECT_EQ(value_of(f, "content-type"), "application/json") << "a known field by its name";
  EXPECT_EQ(value_of(f, "MCP-SESSION-ID"), "first") << "the first of repeated fields";
  EXPECT_EQ(value_of(f, "x-request-id"), "abc");
  EXPECT_EQ(value_of(f, "x-request-i"), "") << "a prefix is not the name";
  EXPECT_EQ(value_of(f, "traceparent"), "");
  EXPECT_EQ(value_of(f, http::field::accept), "");
  // The same answers as Beast's own look-up.
  for (std::string_view name : {"content-type", "Mcp-Session-Id", "X-REQUEST-ID", "accept"}) {
    auto it = f.find(name);
    EXPECT_EQ(value_of(f, name), it == f.end() ? std::string_view() : std::string_view(it->value()))
        << name;
  }
}

TEST(HttpHeaders, IequalsFoldsOnlyAsciiLettersAtEveryPosition) {
  // Every pair of bytes, at the ends of the eight-byte words it compares and in the short
  // byte-wise path, against the byte-wise definition.
  const auto fold = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
  for (std::size_t length : {1u, 7u, 8u, 9u, 15u, 16u, 17u}) {
    const std::string base(length, 'k');
    for (std::size_t at : {std::size_t{0}, length / 2, length - 1}) {
      for (int x = 0; x < 256; ++x) {
        for (int y = 0; y < 256; ++y) {
          std::string a = base;
          std::string b = base;
          a[at] = static_cast<char>(x);
          b[at] = static_cast<char>(y);
          const bool expected =
              fold(static_cast<unsigned char>(x)) == fold(static_cast<unsigned char>(y));
          if (iequals(a, b) != expected) {
            ADD_FAILURE() << "length " << length << " at " << at << ": " << x << " vs " << y;
            return;
          }
        }
      }
    }
  }
  EXPECT_TRUE(iequals("Mcp-Session-Id", "mcp-session-id"));
  EXPECT_FALSE(iequals("mcp-session-id", "mcp-session-i"));
  EXPECT_TRUE(iequals("", ""));
}
