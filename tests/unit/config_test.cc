// Tests for the gateway.yaml parser: every rejected input names its line, key and the offending
// value; every omitted key gets its documented default; the shipped conf/ files parse.
#include "mcpgw/config.h"

#include "store/redis_options.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw {
namespace {

using namespace std::chrono_literals;

// A valid backends/routes section, appended after the lines a test is about so that those keep
// their line numbers and the config is otherwise complete.
constexpr std::string_view valid_tail = R"(
backends:
  - name: conf
    http: { url: http://127.0.0.1:3311/mcp }
routes:
  - path: /mcp
    backend: conf
)";

config_result parse(const std::string& text) { return parse_config_text(text, "gateway.yaml"); }

config_result parse_with_tail(const std::string& head) {
  return parse(head + std::string(valid_tail));
}

std::string all_errors(const config_result& result) {
  std::string out;
  for (const auto& error : result.errors) {
    out += "\n  " + error.to_string();
  }
  return out.empty() ? " (no errors)" : out;
}

bool matches(const config_error& error, int line, std::string_view key, std::string_view fragment) {
  return error.file == "gateway.yaml" && error.line == line && error.key == key &&
         error.message.find(fragment) != std::string::npos;
}

// One of the errors is at this line and key, with this fragment in its message.
::testing::AssertionResult has_error(const config_result& result, int line, std::string_view key,
                                     std::string_view fragment) {
  const bool found = std::any_of(result.errors.begin(), result.errors.end(),
                                 [&](const auto& e) { return matches(e, line, key, fragment); });
  if (found && !result.config) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "wanted gateway.yaml:" << line << ": " << key << ": ..." << fragment << "...; got"
         << all_errors(result) << (result.config ? "\n  and a config" : "");
}

// The only error is at this line and key, with this fragment in its message.
::testing::AssertionResult has_only_error(const config_result& result, int line,
                                          std::string_view key, std::string_view fragment) {
  if (result.errors.size() != 1) {
    return ::testing::AssertionFailure() << "wanted exactly one error; got" << all_errors(result);
  }
  return has_error(result, line, key, fragment);
}

// A copy, so that config_of(parse(...)) outlives the parse result.
gateway_config config_of(const config_result& result) {
  EXPECT_TRUE(result.config.has_value()) << all_errors(result);
  return result.config.value_or(gateway_config{});
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// --- value syntaxes ---

TEST(Config, ParsesDurationsInEveryUnit) {
  EXPECT_EQ(parse_duration("500ms"), duration(500));
  EXPECT_EQ(parse_duration("60s"), duration(60s));
  EXPECT_EQ(parse_duration("30m"), duration(30min));
  EXPECT_EQ(parse_duration("1h"), duration(1h));
  EXPECT_EQ(parse_duration("0s"), duration(0));
  EXPECT_EQ(parse_duration("0090s"), duration(90s));
}

TEST(Config, RejectsMalformedNegativeAndOverflowingDurations) {
  for (const char* text : {"", "60", "-5s", "+5s", "1.5s", "5 s", " 5s", "5sec", "5S", "s", "ms",
                           "5d", "99999999999999999999h", "9223372036854775807s",
                           "2562047788016h" /* just past 2^63 ms */}) {
    EXPECT_FALSE(parse_duration(text)) << text;
  }
  EXPECT_EQ(parse_duration("2562047788015h"), duration(2562047788015h));
}

TEST(Config, ParsesSizesWithBinarySuffixes) {
  EXPECT_EQ(parse_size("1048576"), 1048576U);
  EXPECT_EQ(parse_size("0"), 0U);
  EXPECT_EQ(parse_size("512B"), 512U);
  EXPECT_EQ(parse_size("4KiB"), 4096U);
  EXPECT_EQ(parse_size("16k"), 16384U);
  EXPECT_EQ(parse_size("16K"), 16384U);
  EXPECT_EQ(parse_size("4MiB"), 4U * 1024 * 1024);
  EXPECT_EQ(parse_size("4M"), 4U * 1024 * 1024);
  EXPECT_EQ(parse_size("2GiB"), std::size_t{2} * 1024 * 1024 * 1024);
  EXPECT_EQ(parse_size("2G"), std::size_t{2} * 1024 * 1024 * 1024);
}

TEST(Config, RejectsMalformedNegativeAndOverflowingSizes) {
  for (const char* text : {"", "-1", "4KB", "4kb", "4mib", "4 MiB", "1.5MiB", "MiB", "4TiB",
                           "18446744073709551616", "17179869184GiB"}) {
    EXPECT_FALSE(parse_size(text)) << text;
  }
  EXPECT_EQ(parse_size("18446744073709551615"), std::size_t{18446744073709551615U});
}

TEST(Config, ParsesHostPortsIncludingBracketedIpv6) {
  const auto v4 = parse_host_port("127.0.0.1:8080");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8080);
  const auto v6 = parse_host_port("[::1]:8080");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8080);
  const auto any = parse_host_port("localhost:0");
  ASSERT_TRUE(any);
  EXPECT_EQ(any->host, "localhost");
  EXPECT_EQ(any->port, 0);
  EXPECT_TRUE(parse_host_port("0.0.0.0:80"));
  EXPECT_EQ(parse_host_port("Example.COM:65535")->host, "Example.COM");  // kept as written
  EXPECT_EQ(parse_host_port("[fe80::1]:443")->host, "fe80::1");
}

TEST(Config, RejectsHostPortsWithoutPortOrWithBadBrackets) {
  for (const char* text :
       {"", "localhost", "127.0.0.1", "[::1]", "[::1:8080", "::1:8080", "::1]:8080", ":8080",
        "host:", "host:65536", "host:-1", "host:80x", "host:080800", "[localhost]:80", "[::1]8080",
        "[]:80", "a b:80", "host:80/path"}) {
    EXPECT_FALSE(parse_host_port(text)) << text;
  }
}

TEST(Config, ParseHostLowerCasesAndDropsIpv6Brackets) {
  EXPECT_EQ(parse_host("LocalHost"), "localhost");
  EXPECT_EQ(parse_host("[::1]"), "::1");
  EXPECT_EQ(parse_host("::1"), "::1");
  EXPECT_EQ(parse_host("[FE80::1]"), "fe80::1");
  EXPECT_EQ(parse_host("10.0.0.1"), "10.0.0.1");
  for (const char* text :
       {"", "example.com:80", "[::1]:80", "[localhost]", "*.example.com", "a/b", "[::1"}) {
    EXPECT_FALSE(parse_host(text)) << text;
  }
}

TEST(Config, ValueErrorSaysWhatWasExpectedAndWhy) {
  EXPECT_EQ(value_error(value_kind::time_span, "60s"), "");
  EXPECT_EQ(value_error(value_kind::time_span, "60"),
            "expected a duration like 500ms, 60s, 30m or 1h, got \"60\" (missing unit: ms, s, m "
            "or h)");
  EXPECT_NE(value_error(value_kind::time_span, "1.5s").find("(whole numbers only)"),
            std::string::npos);
  EXPECT_NE(value_error(value_kind::size, "4KB").find("unknown unit \"KB\""), std::string::npos);
  EXPECT_NE(value_error(value_kind::count, "99999999999999999999").find("too large"),
            std::string::npos);
  EXPECT_NE(value_error(value_kind::boolean, "yes").find("yes, no, on and off are not booleans"),
            std::string::npos);
  EXPECT_NE(value_error(value_kind::host, "example.com:80").find("no port here"),
            std::string::npos);
  EXPECT_NE(value_error(value_kind::route_path, "/a b").find("no spaces"), std::string::npos);
  EXPECT_NE(value_error(value_kind::log_level, "trace").find("one of debug, info, warn, error"),
            std::string::npos);
}

TEST(Config, QuoteValueEscapesAndShortensLongValues) {
  EXPECT_EQ(quote_value("sixty"), "\"sixty\"");
  EXPECT_EQ(quote_value("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
  EXPECT_EQ(quote_value(std::string(100, 'x')), "\"" + std::string(60, 'x') + "...\"");
}

// --- the error format ---

TEST(Config, ErrorToStringIsFileLineKeyMessage) {
  const config_error error{"gateway.yaml", 7, "backends[0].http.url", "expected a URL"};
  EXPECT_EQ(error.to_string(), "gateway.yaml:7: backends[0].http.url: expected a URL");
  const config_error unreadable{"/etc/mcpgw.yaml", 0, "", "cannot read the file: No such file"};
  EXPECT_EQ(unreadable.to_string(), "/etc/mcpgw.yaml: cannot read the file: No such file");
}

TEST(Config, MalformedDurationReportsFileLineKeyAndQuotedValue) {
  const auto result = parse(R"(listen: 127.0.0.1:8080
admin_listen: 127.0.0.1:9090
session_store: { type: memory, idle_timeout: 30m }
backends:
  - name: conf
    http:
      timeout: sixty
      url: http://127.0.0.1:3311/mcp
routes:
  - path: /mcp
    backend: conf
)");
  ASSERT_EQ(result.errors.size(), 1U) << all_errors(result);
  EXPECT_EQ(result.errors[0].to_string(),
            "gateway.yaml:7: backends[0].http.timeout: expected a duration like 500ms, 60s, 30m "
            "or 1h, got \"sixty\"");
  EXPECT_FALSE(result.config);
}

TEST(Config, CollectsEveryErrorInDocumentOrder) {
  const auto result = parse(R"(log_level: loud
listen: nowhere
session_store: { type: etcd }
backends:
  - name: a
    http: { url: ftp://x }
routes:
  - path: mcp
    backend: b
limits: { max_body: 0 }
)");
  ASSERT_EQ(result.errors.size(), 7U) << all_errors(result);
  EXPECT_TRUE(has_error(result, 1, "log_level", "got \"loud\""));
  EXPECT_TRUE(has_error(result, 2, "listen", "got \"nowhere\""));
  EXPECT_TRUE(has_error(result, 3, "session_store.type", "expected memory or redis, got \"etcd\""));
  EXPECT_TRUE(has_error(result, 6, "backends[0].http.url", "got \"ftp://x\""));
  EXPECT_TRUE(has_error(result, 8, "routes[0].path", "got \"mcp\""));
  EXPECT_TRUE(has_error(result, 9, "routes[0].backend", "got \"b\""));
  EXPECT_TRUE(has_error(result, 10, "limits.max_body", "got \"0\""));
  EXPECT_TRUE(std::is_sorted(result.errors.begin(), result.errors.end(),
                             [](const auto& a, const auto& b) { return a.line < b.line; }));
}

// --- YAML-level errors ---

TEST(Config, YamlSyntaxErrorReportsItsLine) {
  const auto result = parse("listen: 127.0.0.1:8080\nallowed_hosts: [a, b\nlog_level: info\n");
  ASSERT_EQ(result.errors.size(), 1U) << all_errors(result);
  EXPECT_EQ(result.errors[0].file, "gateway.yaml");
  EXPECT_GE(result.errors[0].line, 2);
  EXPECT_NE(result.errors[0].message.find("invalid YAML"), std::string::npos);
  EXPECT_FALSE(result.config);
}

TEST(Config, BadIndentationIsASyntaxErrorWithLine) {
  EXPECT_TRUE(
      has_only_error(parse("limits:\n  max_body: 1k\n max_header: 2k\n"), 3, "", "invalid YAML"));
}

TEST(Config, EmptyFileIsAnError) {
  EXPECT_TRUE(has_only_error(parse(""), 1, "", "the file is empty"));
  EXPECT_TRUE(has_only_error(parse("# only a comment\n"), 1, "", "the file is empty"));
}

TEST(Config, DocumentThatIsNotAMapIsAnError) {
  EXPECT_TRUE(has_only_error(parse("- listen\n- backends\n"), 1, "",
                             "expected a map of settings, got a list"));
  EXPECT_TRUE(has_only_error(parse("hello\n"), 1, "", "expected a map of settings, got \"hello\""));
}

TEST(Config, SecondYamlDocumentIsAnError) {
  // valid_tail is lines 1-7 (the first is empty).
  const auto result = parse(std::string(valid_tail) + "---\nlog_level: debug\n");
  EXPECT_TRUE(has_only_error(result, 9, "", "expected one YAML document"));
}

TEST(Config, UnknownTopLevelKeySuggestsTheClosestKey) {
  EXPECT_TRUE(has_only_error(parse_with_tail("listne: 127.0.0.1:8080\n"), 1, "listne",
                             "unknown key \"listne\" (did you mean \"listen\"?); expected one of "
                             "listen, admin_listen,"));
}

TEST(Config, UnknownKeyFarFromAnyKeyListsTheKnownKeys) {
  const auto result = parse_with_tail("upstreams: []\n");
  EXPECT_TRUE(has_only_error(result, 1, "upstreams", "unknown key \"upstreams\"; expected one of"));
  EXPECT_EQ(result.errors[0].message.find("did you mean"), std::string::npos);
}

TEST(Config, UnknownKeysInEveryNestedMapAreErrorsWithTheirFullPath) {
  const auto result = parse(R"(tls: { cert: a.pem, key: a.key, ca: c.pem }
session_store: { type: memory, ttl: 5m }
limits: { max_bdy: 1k }
backends:
  - name: conf
    weight: 2
    http:
      urll: http://127.0.0.1:3311/mcp
      url: http://127.0.0.1:3311/mcp
routes:
  - path: /mcp
    backend: conf
    methods: [POST]
)");
  ASSERT_EQ(result.errors.size(), 6U) << all_errors(result);
  EXPECT_TRUE(has_error(result, 1, "tls.ca", "unknown key \"ca\""));
  EXPECT_TRUE(has_error(result, 2, "session_store.ttl", "expected one of type, idle_timeout"));
  EXPECT_TRUE(has_error(result, 3, "limits.max_bdy", "did you mean \"max_body\"?"));
  EXPECT_TRUE(has_error(result, 6, "backends[0].weight", "expected one of name, http"));
  EXPECT_TRUE(has_error(result, 8, "backends[0].http.urll", "did you mean \"url\"?"));
  EXPECT_TRUE(has_error(result, 13, "routes[0].methods", "expected one of path, backend"));
}

TEST(Config, RepeatedKeyIsAnErrorPointingAtTheFirst) {
  EXPECT_TRUE(has_only_error(parse_with_tail("log_level: info\nlog_level: debug\n"), 2, "log_level",
                             "duplicate key; the first is on line 1"));
}

TEST(Config, NonScalarKeyIsAnError) {
  EXPECT_TRUE(
      has_only_error(parse_with_tail("? [a, b]\n: 1\n"), 1, "", "expected a key name, got a list"));
}

// --- wrong types ---

TEST(Config, ListenGivenAsAListIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("listen: [127.0.0.1, 8080]\n"), 1, "listen",
                             "expected host:port like 127.0.0.1:8080 or [::1]:8080, got a list"));
}

TEST(Config, EmptyValueIsReportedOnItsKeysLine) {
  EXPECT_TRUE(has_only_error(parse_with_tail("shutdown_grace:\nlog_level: info\n"), 1,
                             "shutdown_grace",
                             "expected a duration like 500ms, 60s, 30m or 1h, "
                             "got nothing"));
}

TEST(Config, BackendsGivenAsAMapIsAnError) {
  const auto result = parse(R"(backends:
  name: conf
routes:
  - path: /mcp
    backend: conf
)");
  // The route's backend is not reported again: the backends themselves are already in error.
  EXPECT_TRUE(has_only_error(result, 1, "backends", "expected a list of backends, got a map"));
}

TEST(Config, BackendGivenAsAStringIsAnError) {
  const auto result = parse(R"(backends:
  - conf
routes:
  - path: /mcp
    backend: conf
)");
  EXPECT_TRUE(
      has_only_error(result, 2, "backends[0]",
                     "expected a backend map with name and http, sse or stdio, got \"conf\""));
}

TEST(Config, RouteGivenAsAStringIsAnError) {
  const auto result = parse(R"(backends:
  - name: conf
    http: { url: http://127.0.0.1:3311/mcp }
routes:
  - /mcp
)");
  EXPECT_TRUE(has_only_error(result, 5, "routes[0]",
                             "expected a route map with path and backend, got \"/mcp\""));
}

TEST(Config, TlsGivenAsAStringIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("tls: server.pem\n"), 1, "tls",
                             "expected a map with cert and key, got \"server.pem\""));
}

TEST(Config, AllowedHostsGivenAsAStringIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("allowed_hosts: localhost\n"), 1, "allowed_hosts",
                             "expected a list of host names, got \"localhost\""));
}

TEST(Config, AllowedHostEntryGivenAsAMapIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("allowed_hosts:\n  - localhost\n  - {a: b}\n"), 3,
                             "allowed_hosts[1]",
                             "expected a host name or IP address without "
                             "port, like example.com or ::1, got a map"));
}

TEST(Config, LimitsGivenAsAListIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("limits: [max_body]\n"), 1, "limits",
                             "expected a map of limits, got a list"));
}

TEST(Config, SizeGivenAsAMapIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("limits:\n  max_body: {mib: 4}\n"), 2,
                             "limits.max_body",
                             "expected a size like 4MiB, 512KiB, 16k or "
                             "1048576, got a map"));
}

TEST(Config, TlsVerifyAcceptsOnlyTrueOrFalse) {
  const auto result = parse(R"(backends:
  - name: conf
    http: { url: https://10.0.0.1/mcp, tls_verify: yes }
routes:
  - path: /mcp
    backend: conf
)");
  EXPECT_TRUE(has_only_error(result, 3, "backends[0].http.tls_verify",
                             "expected true or false, got \"yes\""));
}

// --- durations, sizes and counts in context ---

TEST(Config, DurationWithoutUnitIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("shutdown_grace: 10\n"), 1, "shutdown_grace",
                             "got \"10\" (missing unit: ms, s, m or h)"));
}

TEST(Config, NegativeDurationIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("limits:\n  write_timeout: -5s\n"), 2,
                             "limits.write_timeout", "got \"-5s\" (must not be negative)"));
}

TEST(Config, OverflowingDurationIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("session_store:\n  idle_timeout: 9999999999999h\n"), 2,
                             "session_store.idle_timeout", "(too large)"));
}

TEST(Config, DurationWithUnknownUnitIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("limits: { sse_keepalive: 15sec }\n"), 1,
                             "limits.sse_keepalive", "unknown unit \"sec\"; use ms, s, m or h"));
}

TEST(Config, SizeWithUnknownUnitIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("limits:\n  max_header: 16KB\n"), 2,
                             "limits.max_header",
                             "expected a size like 4MiB, 512KiB, 16k or 1048576, got \"16KB\" "
                             "(unknown unit \"KB\"; use B, KiB, MiB, GiB, k, M or G)"));
}

TEST(Config, NegativeAndOverflowingSizesAreErrors) {
  const auto result =
      parse_with_tail("limits:\n  max_body: -1\n  max_backend_message: 99999999999GiB\n");
  ASSERT_EQ(result.errors.size(), 2U) << all_errors(result);
  EXPECT_TRUE(has_error(result, 2, "limits.max_body", "(must not be negative)"));
  EXPECT_TRUE(has_error(result, 3, "limits.max_backend_message", "(too large)"));
}

TEST(Config, CountsAreWholeNumbersWithoutSuffix) {
  const auto result = parse_with_tail(
      "limits:\n  max_connections: 10k\n  stream_buffer_events: -1\n"
      "session_store:\n  max_sessions: 1.5\n");
  ASSERT_EQ(result.errors.size(), 3U) << all_errors(result);
  EXPECT_TRUE(has_error(result, 2, "limits.max_connections",
                        "expected a whole number like 1000, got \"10k\""));
  EXPECT_TRUE(has_error(result, 3, "limits.stream_buffer_events", "(must not be negative)"));
  EXPECT_TRUE(has_error(result, 5, "session_store.max_sessions", "got \"1.5\""));
}

TEST(Config, ZeroLimitsAreErrors) {
  const auto result = parse_with_tail(R"(limits:
  max_body: 0
  max_header: 0KiB
  max_backend_message: 0
  header_timeout: 0s
  body_timeout: 0ms
  write_timeout: 0m
  idle_connection_timeout: 0h
  sse_keepalive: 0s
  stream_buffer_events: 0
  max_connections: 0
)");
  ASSERT_EQ(result.errors.size(), 10U) << all_errors(result);
  EXPECT_TRUE(
      has_error(result, 2, "limits.max_body", "expected a size greater than zero, got \"0\""));
  EXPECT_TRUE(has_error(result, 3, "limits.max_header", "got \"0KiB\""));
  EXPECT_TRUE(has_error(result, 4, "limits.max_backend_message", "greater than zero"));
  EXPECT_TRUE(has_error(result, 5, "limits.header_timeout",
                        "expected a duration greater than zero, got \"0s\""));
  EXPECT_TRUE(has_error(result, 6, "limits.body_timeout", "got \"0ms\""));
  EXPECT_TRUE(has_error(result, 7, "limits.write_timeout", "greater than zero"));
  EXPECT_TRUE(has_error(result, 8, "limits.idle_connection_timeout", "greater than zero"));
  EXPECT_TRUE(has_error(result, 9, "limits.sse_keepalive", "greater than zero"));
  EXPECT_TRUE(has_error(result, 10, "limits.stream_buffer_events",
                        "expected a number greater than zero, got \"0\""));
  EXPECT_TRUE(has_error(result, 11, "limits.max_connections", "greater than zero"));
}

TEST(Config, ZeroSessionAndBackendSettingsAreErrors) {
  const auto result = parse(R"(session_store: { idle_timeout: 0s, max_sessions: 0 }
backends:
  - name: conf
    http:
      url: http://127.0.0.1:3311/mcp
      timeout: 0s
      connect_timeout: 0ms
      max_idle_connections: 0
routes:
  - path: /mcp
    backend: conf
)");
  ASSERT_EQ(result.errors.size(), 5U) << all_errors(result);
  EXPECT_TRUE(has_error(result, 1, "session_store.idle_timeout", "greater than zero"));
  EXPECT_TRUE(has_error(result, 1, "session_store.max_sessions", "greater than zero"));
  EXPECT_TRUE(has_error(result, 6, "backends[0].http.timeout", "greater than zero"));
  EXPECT_TRUE(has_error(result, 7, "backends[0].http.connect_timeout", "greater than zero"));
  EXPECT_TRUE(has_error(result, 8, "backends[0].http.max_idle_connections", "greater than zero"));
}

TEST(Config, ShutdownGraceMayBeZero) {
  EXPECT_EQ(config_of(parse_with_tail("shutdown_grace: 0s\n")).shutdown_grace, duration(0));
}

// --- listeners ---

TEST(Config, ListenWithoutPortIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("listen: localhost\n"), 1, "listen",
                             "expected host:port like 127.0.0.1:8080 or [::1]:8080, got "
                             "\"localhost\" (missing port)"));
}

TEST(Config, ListenWithBadBracketsIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("listen: \"[::1:8080\"\n"), 1, "listen",
                             "(missing closing bracket)"));
  EXPECT_TRUE(has_only_error(parse_with_tail("listen: \"[localhost]:80\"\n"), 1, "listen",
                             "(brackets are for IPv6 addresses only)"));
}

TEST(Config, UnbracketedIpv6ListenIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("listen: \"::1:8080\"\n"), 1, "listen",
                             "write IPv6 addresses in brackets"));
}

TEST(Config, PortOutOfRangeIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("admin_listen: 127.0.0.1:70000\n"), 1, "admin_listen",
                             "(port must be a number from 0 to 65535)"));
}

TEST(Config, AdminListenOnTheListenAddressIsAnError) {
  EXPECT_TRUE(has_only_error(
      parse_with_tail("listen: localhost:8080\nadmin_listen: LOCALHOST:8080\n"), 2, "admin_listen",
      "expected an address other than listen's, got \"LOCALHOST:8080\""));
}

TEST(Config, ListenAndAdminListenMayBothUsePortZero) {
  const auto& config =
      config_of(parse_with_tail("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n"));
  EXPECT_EQ(config.listen.port, 0);
  EXPECT_EQ(config.admin_listen->port, 0);
}

TEST(Config, Ipv6ListenIsStoredWithoutBrackets) {
  const auto& config = config_of(parse_with_tail("listen: \"[::1]:8443\"\n"));
  EXPECT_EQ(config.listen.host, "::1");
  EXPECT_EQ(config.listen.port, 8443);
}

// --- tls ---

TEST(Config, TlsWithOnlyCertIsAnError) {
  // A missing key is reported on the line of the map that should hold it.
  EXPECT_TRUE(has_only_error(parse_with_tail("tls:\n  cert: server.pem\n"), 1, "tls.key",
                             "missing; tls needs both cert and key"));
}

TEST(Config, TlsWithOnlyKeyIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("tls: { key: server.key }\n"), 1, "tls.cert",
                             "missing; tls needs both cert and key"));
}

TEST(Config, TlsWithEmptyFileNameIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("tls: { cert: \"\", key: server.key }\n"), 1,
                             "tls.cert", "expected a file name, got \"\""));
}

// --- allowed hosts and origins ---

TEST(Config, AllowedHostWithPortIsAnError) {
  EXPECT_TRUE(
      has_only_error(parse_with_tail("allowed_hosts:\n  - example.com\n  - example.com:8080\n"), 3,
                     "allowed_hosts[1]", "got \"example.com:8080\" (no port here"));
}

TEST(Config, EmptyAllowedHostsListIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("allowed_hosts: []\n"), 1, "allowed_hosts",
                             "expected at least one host name, got an empty list"));
}

TEST(Config, AllowedOriginWithPathOrWithoutSchemeIsAnError) {
  const auto result = parse_with_tail(
      "allowed_origins:\n  - https://app.example.com/\n  - app.example.com\n"
      "  - https://app.example.com:0\n");
  ASSERT_EQ(result.errors.size(), 3U) << all_errors(result);
  EXPECT_TRUE(has_error(result, 2, "allowed_origins[0]",
                        "expected an origin like https://app.example.com or "
                        "http://localhost:5173, got \"https://app.example.com/\" (an origin has "
                        "no path"));
  EXPECT_TRUE(has_error(result, 3, "allowed_origins[1]", "(an origin is scheme://host[:port])"));
  EXPECT_TRUE(has_error(result, 4, "allowed_origins[2]", "port must be a number from 1"));
}

// --- session store ---

TEST(Config, RedisSessionStoreReadsItsSettings) {
  ::setenv("MCPGW_TEST_REDIS_PASSWORD", "pw from env", 1);
  const auto result = parse_with_tail(
      "session_store:\n  type: redis\n  url: redis://:inurl@10.0.0.5:6380/2\n"
      "  key_prefix: \"gw1:\"\n  password_env: MCPGW_TEST_REDIS_PASSWORD\n"
      "  timeout: 250ms\n  connect_timeout: 2s\n  cache_ttl: 500ms\n  idle_timeout: 10m\n");
  ASSERT_TRUE(result.config) << all_errors(result);
  const auto& store = result.config->session_store;
  EXPECT_EQ(store.type, "redis");
  EXPECT_EQ(store.key_prefix, "gw1:");
  EXPECT_EQ(store.password, "pw from env");
  EXPECT_EQ(store.timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(store.cache_ttl, std::chrono::milliseconds(500));
  auto options = redis_options_from(store);
  EXPECT_EQ(options.host, "10.0.0.5");
  EXPECT_EQ(options.port, 6380);
  EXPECT_EQ(options.db, 2);
  EXPECT_EQ(options.password, "pw from env");  // the variable beats the URL
  EXPECT_EQ(options.command_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(options.connect_timeout, std::chrono::seconds(2));
}

TEST(Config, RedisSessionStoreNeedsAUrl) {
  EXPECT_TRUE(has_only_error(parse_with_tail("session_store:\n  type: redis\n"), 1, "session_store",
                             "type: redis needs url"));
}

TEST(Config, RedisSessionStoreUrlErrorsNameTheProblem) {
  EXPECT_TRUE(
      has_only_error(parse_with_tail("session_store:\n  type: redis\n  url: rediss://cache:6380\n"),
                     3, "session_store.url", "not supported yet"));
  EXPECT_TRUE(
      has_only_error(parse_with_tail("session_store:\n  type: redis\n  url: redis://cache/db1\n"),
                     3, "session_store.url", "database number like /0, got \"/db1\""));
}

TEST(Config, RedisPasswordVariableMustBeSet) {
  ::unsetenv("MCPGW_TEST_REDIS_UNSET");
  EXPECT_TRUE(
      has_only_error(parse_with_tail("session_store:\n  type: redis\n  url: redis://127.0.0.1\n"
                                     "  password_env: MCPGW_TEST_REDIS_UNSET\n"),
                     4, "session_store.password_env",
                     "the environment variable \"MCPGW_TEST_REDIS_UNSET\" is not set"));
}

TEST(Config, RedisSettingsOnTheMemoryStoreAreErrors) {
  EXPECT_TRUE(
      has_only_error(parse_with_tail("session_store:\n  type: memory\n  url: redis://127.0.0.1\n"),
                     3, "session_store.url", "a setting of type: redis; this store is \"memory\""));
}

TEST(Config, UnknownSessionStoreTypeIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("session_store:\n  type: etcd\n"), 2,
                             "session_store.type", "expected memory or redis, got \"etcd\""));
}

// --- backends ---

TEST(Config, MissingBackendsAndRoutesAreErrors) {
  const auto result = parse("listen: 127.0.0.1:8080\n");
  ASSERT_EQ(result.errors.size(), 2U) << all_errors(result);
  EXPECT_TRUE(has_error(result, 1, "backends", "missing; at least one backend is required"));
  EXPECT_TRUE(has_error(result, 1, "routes", "missing; at least one route is required"));
}

TEST(Config, EmptyBackendAndRouteListsAreErrors) {
  const auto result = parse("backends: []\nroutes: []\n");
  ASSERT_EQ(result.errors.size(), 2U) << all_errors(result);
  EXPECT_TRUE(has_error(result, 1, "backends", "expected at least one backend, got an empty list"));
  EXPECT_TRUE(has_error(result, 2, "routes", "expected at least one route, got an empty list"));
}

TEST(Config, BackendWithoutNameOrHttpIsAnError) {
  const auto result = parse(R"(backends:
  - name: conf
  - http: { url: http://127.0.0.1:3312/mcp }
routes:
  - path: /mcp
    backend: conf
)");
  ASSERT_EQ(result.errors.size(), 2U) << all_errors(result);
  EXPECT_TRUE(has_error(result, 2, "backends[0].http", "missing; expected http: { url:"));
  EXPECT_TRUE(
      has_error(result, 3, "backends[1].name", "missing; every backend needs a unique name"));
}

TEST(Config, EmptyBackendNameIsAnError) {
  const auto result = parse(R"(backends:
  - name: ""
    http: { url: http://127.0.0.1:3311/mcp }
  - name:
    http: { url: http://127.0.0.1:3312/mcp }
routes:
  - path: /mcp
    backend: conf
)");
  // Only the two names: the route's "conf" is not also reported while names are in error.
  ASSERT_EQ(result.errors.size(), 2U) << all_errors(result);
  EXPECT_TRUE(
      has_error(result, 2, "backends[0].name",
                "expected a name of letters, digits, '-', '_' and '.', like demo, got \"\""));
  EXPECT_TRUE(has_error(result, 4, "backends[1].name", "got nothing"));
}

TEST(Config, BackendNameWithSpacesIsAnError) {
  const auto result = parse(R"(backends:
  - name: my backend
    http: { url: http://127.0.0.1:3311/mcp }
routes:
  - path: /mcp
    backend: my backend
)");
  ASSERT_EQ(result.errors.size(), 2U) << all_errors(result);
  EXPECT_TRUE(has_error(result, 2, "backends[0].name", "got \"my backend\""));
  EXPECT_TRUE(has_error(result, 6, "routes[0].backend", "got \"my backend\""));
}

TEST(Config, DuplicateBackendNamesAreAnError) {
  const auto result = parse(R"(backends:
  - name: conf
    http: { url: http://127.0.0.1:3311/mcp }
  - name: conf
    http: { url: http://127.0.0.1:3312/mcp }
routes:
  - path: /mcp
    backend: conf
)");
  EXPECT_TRUE(has_only_error(result, 4, "backends[1].name",
                             "duplicate backend name \"conf\"; the first is on line 2"));
}

TEST(Config, MissingUrlIsAnError) {
  const auto result = parse(R"(backends:
  - name: conf
    http:
      timeout: 5s
routes:
  - path: /mcp
    backend: conf
)");
  EXPECT_TRUE(has_only_error(result, 3, "backends[0].http.url",
                             "missing; expected an http:// or https:// URL"));
}

TEST(Config, UrlThatIsNotHttpOrUnparsableIsAnError) {
  const auto result = parse(R"(backends:
  - name: a
    http: { url: ftp://127.0.0.1/mcp }
  - name: b
    http: { url: "http://[::1/mcp" }
  - name: c
    http: { url: 127.0.0.1:3311/mcp }
  - name: d
    http: { url: http:///mcp }
  - name: e
    http: { url: "http://user:pw@127.0.0.1/mcp" }
  - name: f
    http: { url: "http://127.0.0.1/mcp#top" }
  - name: g
    http: { url: "http://127.0.0.1:0/mcp" }
  - name: h
    http: { url: "http://127.0.0.1.evil.example/mcp" }
routes:
  - path: /mcp
    backend: a
)");
  ASSERT_EQ(result.errors.size(), 8U) << all_errors(result);
  EXPECT_TRUE(has_error(result, 3, "backends[0].http.url",
                        "expected an http:// or https:// URL like http://127.0.0.1:3311/mcp, got "
                        "\"ftp://127.0.0.1/mcp\" (the scheme must be http or https)"));
  EXPECT_TRUE(has_error(result, 5, "backends[1].http.url", "(not a valid URL)"));
  EXPECT_TRUE(has_error(result, 7, "backends[2].http.url", "got \"127.0.0.1:3311/mcp\""));
  EXPECT_TRUE(has_error(result, 9, "backends[3].http.url", "(missing host)"));
  EXPECT_TRUE(has_error(result, 11, "backends[4].http.url", "passwords in the URL"));
  EXPECT_TRUE(has_error(result, 13, "backends[5].http.url", "#fragment"));
  EXPECT_TRUE(has_error(result, 15, "backends[6].http.url", "port must be a number from 1"));
  // Boost.URL 1.81 would read host 127.0.0.1 and path ".evil.example/mcp" here.
  EXPECT_TRUE(has_error(result, 17, "backends[7].http.url", "host is not a valid name"));
}

TEST(Config, HttpsUrlWithTlsSettingsIsAccepted) {
  const auto& config = config_of(parse(R"(backends:
  - name: secure
    http:
      url: https://mcp.example.com:8443/v1/mcp?tenant=a
      tls_verify: false
      ca_file: /etc/mcpgw/ca.pem
routes:
  - path: /mcp
    backend: secure
)"));
  ASSERT_EQ(config.backends.size(), 1U);
  EXPECT_EQ(config.backends[0].http.url, "https://mcp.example.com:8443/v1/mcp?tenant=a");
  EXPECT_FALSE(config.backends[0].http.tls_verify);
  EXPECT_EQ(config.backends[0].http.ca_file, "/etc/mcpgw/ca.pem");
}

// --- routes ---

TEST(Config, RouteWithoutPathOrBackendIsAnError) {
  const auto result = parse(R"(backends:
  - name: conf
    http: { url: http://127.0.0.1:3311/mcp }
routes:
  - path: /mcp
  - backend: conf
)");
  ASSERT_EQ(result.errors.size(), 2U) << all_errors(result);
  EXPECT_TRUE(has_error(result, 5, "routes[0].backend", "missing; expected the name of a backend"));
  EXPECT_TRUE(has_error(result, 6, "routes[1].path", "missing; expected a path like /mcp"));
}

TEST(Config, RoutePathNotStartingWithSlashIsAnError) {
  const auto result = parse(R"(backends:
  - name: conf
    http: { url: http://127.0.0.1:3311/mcp }
routes:
  - path: mcp
    backend: conf
  - path: "/a?b"
    backend: conf
)");
  ASSERT_EQ(result.errors.size(), 2U) << all_errors(result);
  EXPECT_TRUE(has_error(result, 5, "routes[0].path",
                        "expected a path starting with '/', like /mcp, got \"mcp\""));
  EXPECT_TRUE(has_error(result, 7, "routes[1].path", "got \"/a?b\" (no spaces, '?' or '#')"));
}

TEST(Config, DuplicateRoutePathsAreAnError) {
  const auto result = parse(R"(backends:
  - name: conf
    http: { url: http://127.0.0.1:3311/mcp }
routes:
  - path: /mcp
    backend: conf
  - path: /mcp
    backend: conf
)");
  EXPECT_TRUE(has_only_error(result, 7, "routes[1].path",
                             "duplicate route path \"/mcp\"; the first is on line 5"));
}

TEST(Config, RouteNamingAnUnknownBackendIsAnError) {
  const auto result = parse(R"(backends:
  - name: conf
    http: { url: http://127.0.0.1:3311/mcp }
  - name: demo
    http: { url: http://127.0.0.1:3312/mcp }
routes:
  - path: /mcp
    backend: cnof
)");
  EXPECT_TRUE(has_only_error(result, 8, "routes[0].backend",
                             "expected the name of a backend defined under backends (conf, "
                             "demo), got \"cnof\""));
}

// --- log level ---

TEST(Config, LogLevelOutsideTheFourLevelsIsAnError) {
  EXPECT_TRUE(has_only_error(parse_with_tail("log_level: verbose\n"), 1, "log_level",
                             "expected one of debug, info, warn, error, got \"verbose\""));
  EXPECT_TRUE(has_only_error(parse_with_tail("log_level: INFO\n"), 1, "log_level", "got \"INFO\""));
}

// --- files ---

TEST(Config, MissingFileIsAnErrorWithoutLine) {
  const auto result = parse_config_file("/nonexistent/mcpgw/gateway.yaml");
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_EQ(result.errors[0].file, "/nonexistent/mcpgw/gateway.yaml");
  EXPECT_EQ(result.errors[0].line, 0);
  EXPECT_NE(result.errors[0].message.find("cannot read the file"), std::string::npos);
  EXPECT_FALSE(result.config);
}

TEST(Config, DirectoryIsAnErrorWithoutLine) {
  const auto result = parse_config_file(std::filesystem::temp_directory_path().string());
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_EQ(result.errors[0].line, 0);
  EXPECT_NE(result.errors[0].message.find("it is a directory"), std::string::npos);
}

TEST(Config, FileErrorsNameTheFileAsGiven) {
  const auto path = std::filesystem::temp_directory_path() / "mcpgw_config_test_bad.yaml";
  std::ofstream(path) << "log_level: loud\n" << valid_tail;
  const auto result = parse_config_file(path.string());
  std::filesystem::remove(path);
  ASSERT_EQ(result.errors.size(), 1U) << all_errors(result);
  EXPECT_EQ(
      result.errors[0].to_string(),
      path.string() + ":1: log_level: expected one of debug, info, warn, error, got \"loud\"");
}

// --- defaults ---

TEST(Config, OmittedKeysGetTheirDefaults) {
  const auto& config = config_of(parse(std::string(valid_tail)));
  const gateway_config defaults;
  EXPECT_EQ(config.source, "gateway.yaml");
  EXPECT_EQ(config.listen.host, "127.0.0.1");
  EXPECT_EQ(config.listen.port, 8080);
  EXPECT_FALSE(config.tls);
  EXPECT_TRUE(config.allowed_origins.empty());
  EXPECT_EQ(config.session_store.type, "memory");
  EXPECT_EQ(config.session_store.idle_timeout, duration(30min));
  EXPECT_EQ(config.session_store.max_sessions, 10000U);
  ASSERT_EQ(config.backends.size(), 1U);
  EXPECT_EQ(config.backends[0].name, "conf");
  EXPECT_EQ(config.backends[0].http.url, "http://127.0.0.1:3311/mcp");
  EXPECT_EQ(config.backends[0].http.timeout, duration(60s));
  EXPECT_EQ(config.backends[0].http.connect_timeout, duration(5s));
  EXPECT_TRUE(config.backends[0].http.tls_verify);
  EXPECT_EQ(config.backends[0].http.ca_file, "");
  EXPECT_EQ(config.backends[0].http.max_idle_connections, 64U);
  ASSERT_EQ(config.routes.size(), 1U);
  EXPECT_EQ(config.routes[0].path, "/mcp");
  EXPECT_EQ(config.routes[0].backend, "conf");
  EXPECT_EQ(config.limits.max_body, defaults.limits.max_body);
  EXPECT_EQ(config.limits.max_header, defaults.limits.max_header);
  EXPECT_EQ(config.limits.max_backend_message, defaults.limits.max_backend_message);
  EXPECT_EQ(config.limits.header_timeout, defaults.limits.header_timeout);
  EXPECT_EQ(config.limits.body_timeout, defaults.limits.body_timeout);
  EXPECT_EQ(config.limits.write_timeout, defaults.limits.write_timeout);
  EXPECT_EQ(config.limits.idle_connection_timeout, defaults.limits.idle_connection_timeout);
  EXPECT_EQ(config.limits.sse_keepalive, defaults.limits.sse_keepalive);
  EXPECT_EQ(config.limits.stream_buffer_events, defaults.limits.stream_buffer_events);
  EXPECT_EQ(config.limits.max_connections, defaults.limits.max_connections);
  EXPECT_EQ(config.shutdown_grace, duration(10s));
  EXPECT_EQ(config.log_level, "info");
}

TEST(Config, AdminListenDefaultsToLoopbackPort9090) {
  const auto& config = config_of(parse(std::string(valid_tail)));
  ASSERT_TRUE(config.admin_listen);
  EXPECT_EQ(config.admin_listen->host, "127.0.0.1");
  EXPECT_EQ(config.admin_listen->port, 9090);
}

TEST(Config, AllowedHostsDefaultToListenHostAndLoopbackNames) {
  const auto& config = config_of(parse_with_tail("listen: 0.0.0.0:80\n"));
  EXPECT_EQ(config.allowed_hosts,
            (std::vector<std::string>{"0.0.0.0", "localhost", "127.0.0.1", "::1"}));
}

TEST(Config, DefaultAllowedHostsAreDeduplicatedAndLowerCased) {
  EXPECT_EQ(config_of(parse(std::string(valid_tail))).allowed_hosts,
            (std::vector<std::string>{"127.0.0.1", "localhost", "::1"}));
  EXPECT_EQ(config_of(parse_with_tail("listen: LocalHost:8080\n")).allowed_hosts,
            (std::vector<std::string>{"localhost", "127.0.0.1", "::1"}));
  EXPECT_EQ(config_of(parse_with_tail("listen: \"[::1]:8080\"\n")).allowed_hosts,
            (std::vector<std::string>{"::1", "localhost", "127.0.0.1"}));
}

TEST(Config, GivenAllowedHostsReplaceTheDefaultsLowerCasedWithoutBrackets) {
  const auto& config = config_of(parse_with_tail(
      "allowed_hosts: [MCP.Example.com, \"[::1]\", \"::FFFF:10.0.0.1\", mcp.example.com]\n"));
  EXPECT_EQ(config.allowed_hosts,
            (std::vector<std::string>{"mcp.example.com", "::1", "::ffff:10.0.0.1"}));
}

TEST(Config, AllowedOriginsAreLowerCasedAndDeduplicated) {
  const auto& config = config_of(
      parse_with_tail("allowed_origins:\n  - https://App.Example.com\n  - http://localhost:5173\n"
                      "  - HTTPS://app.example.com\n"));
  EXPECT_EQ(config.allowed_origins,
            (std::vector<std::string>{"https://app.example.com", "http://localhost:5173"}));
}

TEST(Config, FullConfigSetsEveryField) {
  const auto result = parse(R"(listen: "[::]:8443"
admin_listen: 127.0.0.1:9191
tls: { cert: /etc/mcpgw/server.pem, key: /etc/mcpgw/server.key }
allowed_hosts: [mcp.example.com]
allowed_origins: [https://app.example.com]
session_store:
  type: memory
  idle_timeout: 1h
  max_sessions: 500
backends:
  - name: conf
    http:
      url: http://127.0.0.1:3311/mcp
      timeout: 90s
      connect_timeout: 2s
      tls_verify: true
      ca_file: ca.pem
      max_idle_connections: 8
  - name: search
    http: { url: https://search.internal/mcp, tls_verify: false }
routes:
  - path: /mcp
    backend: conf
  - path: /search/mcp
    backend: search
limits:
  max_body: 1MiB
  max_header: 8KiB
  max_backend_message: 2M
  header_timeout: 5s
  body_timeout: 15s
  write_timeout: 20s
  idle_connection_timeout: 2m
  sse_keepalive: 500ms
  stream_buffer_events: 256
  max_connections: 2000
shutdown_grace: 3s
log_level: debug
)");
  const auto& config = config_of(result);
  EXPECT_EQ(config.listen.host, "::");
  EXPECT_EQ(config.listen.port, 8443);
  ASSERT_TRUE(config.admin_listen);
  EXPECT_EQ(config.admin_listen->port, 9191);
  ASSERT_TRUE(config.tls);
  EXPECT_EQ(config.tls->cert, "/etc/mcpgw/server.pem");
  EXPECT_EQ(config.tls->key, "/etc/mcpgw/server.key");
  EXPECT_EQ(config.allowed_hosts, std::vector<std::string>{"mcp.example.com"});
  EXPECT_EQ(config.allowed_origins, std::vector<std::string>{"https://app.example.com"});
  EXPECT_EQ(config.session_store.idle_timeout, duration(1h));
  EXPECT_EQ(config.session_store.max_sessions, 500U);
  ASSERT_EQ(config.backends.size(), 2U);
  EXPECT_EQ(config.backends[0].http.timeout, duration(90s));
  EXPECT_EQ(config.backends[0].http.connect_timeout, duration(2s));
  EXPECT_TRUE(config.backends[0].http.tls_verify);
  EXPECT_EQ(config.backends[0].http.ca_file, "ca.pem");
  EXPECT_EQ(config.backends[0].http.max_idle_connections, 8U);
  EXPECT_EQ(config.backends[1].name, "search");
  EXPECT_EQ(config.backends[1].http.url, "https://search.internal/mcp");
  EXPECT_FALSE(config.backends[1].http.tls_verify);
  ASSERT_EQ(config.routes.size(), 2U);
  EXPECT_EQ(config.routes[1].path, "/search/mcp");
  EXPECT_EQ(config.routes[1].backend, "search");
  EXPECT_EQ(config.limits.max_body, 1024U * 1024);
  EXPECT_EQ(config.limits.max_header, 8U * 1024);
  EXPECT_EQ(config.limits.max_backend_message, 2U * 1024 * 1024);
  EXPECT_EQ(config.limits.header_timeout, duration(5s));
  EXPECT_EQ(config.limits.body_timeout, duration(15s));
  EXPECT_EQ(config.limits.write_timeout, duration(20s));
  EXPECT_EQ(config.limits.idle_connection_timeout, duration(2min));
  EXPECT_EQ(config.limits.sse_keepalive, duration(500));
  EXPECT_EQ(config.limits.stream_buffer_events, 256U);
  EXPECT_EQ(config.limits.max_connections, 2000U);
  EXPECT_EQ(config.shutdown_grace, duration(3s));
  EXPECT_EQ(config.log_level, "debug");
}

// --- the shipped files ---

TEST(Config, ShippedGatewayYamlParsesAndRoutesMcpToTheDemoBackend) {
  const std::string path = std::string(MCPGW_SOURCE_DIR) + "/conf/gateway.yaml";
  const auto result = parse_config_file(path);
  const auto& config = config_of(result);
  EXPECT_EQ(config.listen.host, "127.0.0.1");
  EXPECT_EQ(config.listen.port, 8080);
  ASSERT_TRUE(config.admin_listen);
  EXPECT_EQ(config.admin_listen->port, 9090);
  EXPECT_EQ(config.session_store.type, "memory");
  ASSERT_EQ(config.backends.size(), 1U);
  EXPECT_EQ(config.backends[0].name, "demo");
  EXPECT_EQ(config.backends[0].http.url, "http://127.0.0.1:3311/mcp");
  ASSERT_EQ(config.routes.size(), 1U);
  EXPECT_EQ(config.routes[0].path, "/mcp");
  EXPECT_EQ(config.routes[0].backend, "demo");
}

TEST(Config, ExampleYamlParsesToTheDefaults) {
  const auto example =
      parse_config_file(std::string(MCPGW_SOURCE_DIR) + "/conf/gateway.example.yaml");
  const auto& config = config_of(example);
  // The example promises to show every default; hold it to that.
  const auto& minimal = config_of(parse(R"(backends:
  - name: demo
    http: { url: http://127.0.0.1:3311/mcp }
routes:
  - path: /mcp
    backend: demo
)"));
  EXPECT_EQ(config.listen.host, minimal.listen.host);
  EXPECT_EQ(config.listen.port, minimal.listen.port);
  EXPECT_EQ(config.admin_listen->host, minimal.admin_listen->host);
  EXPECT_EQ(config.admin_listen->port, minimal.admin_listen->port);
  EXPECT_EQ(config.tls.has_value(), minimal.tls.has_value());
  EXPECT_EQ(config.allowed_hosts, minimal.allowed_hosts);
  EXPECT_EQ(config.allowed_origins, minimal.allowed_origins);
  EXPECT_EQ(config.session_store.type, minimal.session_store.type);
  EXPECT_EQ(config.session_store.idle_timeout, minimal.session_store.idle_timeout);
  EXPECT_EQ(config.session_store.max_sessions, minimal.session_store.max_sessions);
  ASSERT_EQ(config.backends.size(), 1U);
  const auto& http = config.backends[0].http;
  EXPECT_EQ(config.backends[0].name, "demo");
  EXPECT_EQ(http.url, minimal.backends[0].http.url);
  EXPECT_EQ(http.timeout, minimal.backends[0].http.timeout);
  EXPECT_EQ(http.connect_timeout, minimal.backends[0].http.connect_timeout);
  EXPECT_EQ(http.tls_verify, minimal.backends[0].http.tls_verify);
  EXPECT_EQ(http.ca_file, minimal.backends[0].http.ca_file);
  EXPECT_EQ(http.max_idle_connections, minimal.backends[0].http.max_idle_connections);
  ASSERT_EQ(config.routes.size(), 1U);
  EXPECT_EQ(config.routes[0].path, "/mcp");
  EXPECT_EQ(config.routes[0].backend, "demo");
  EXPECT_EQ(config.limits.max_body, minimal.limits.max_body);
  EXPECT_EQ(config.limits.max_header, minimal.limits.max_header);
  EXPECT_EQ(config.limits.max_backend_message, minimal.limits.max_backend_message);
  EXPECT_EQ(config.limits.header_timeout, minimal.limits.header_timeout);
  EXPECT_EQ(config.limits.body_timeout, minimal.limits.body_timeout);
  EXPECT_EQ(config.limits.write_timeout, minimal.limits.write_timeout);
  EXPECT_EQ(config.limits.idle_connection_timeout, minimal.limits.idle_connection_timeout);
  EXPECT_EQ(config.limits.sse_keepalive, minimal.limits.sse_keepalive);
  EXPECT_EQ(config.limits.stream_buffer_events, minimal.limits.stream_buffer_events);
  EXPECT_EQ(config.limits.max_connections, minimal.limits.max_connections);
  EXPECT_EQ(config.shutdown_grace, minimal.shutdown_grace);
  EXPECT_EQ(config.log_level, minimal.log_level);
}

TEST(Config, WorkersIsACountOrAuto) {
  EXPECT_EQ(config_of(parse_with_tail("workers: 4\n")).workers, 4u);
  EXPECT_EQ(config_of(parse_with_tail("workers: auto\n")).workers, 0u);
  EXPECT_EQ(config_of(parse_with_tail("")).workers, 1u) << "one by default";
  EXPECT_EQ(parse_workers("256"), 256u);
  for (const char* bad : {"0", "257", "-1", "1.5", "two", "", " 2", "2 ", "99999999999999999999"}) {
    EXPECT_FALSE(parse_workers(bad).has_value()) << bad;
  }
  EXPECT_TRUE(has_error(parse_with_tail("workers: 0\n"), 1, "workers",
                        "expected auto or a number from 1 to 256, got \"0\""));
  EXPECT_TRUE(has_error(parse_with_tail("workers: [2]\n"), 1, "workers",
                        "expected a number of threads or auto, got a list"));
}

TEST(Config, WorkersAreOneWithTlsForNow) {
  const std::string tls = "tls: { cert: /nonexistent.pem, key: /nonexistent.key }\n";
  EXPECT_TRUE(has_error(parse_with_tail(tls + "workers: 2\n"), 2, "workers",
                        "tls runs one worker for now (connections move between workers on plain "
                        "TCP only); set workers: 1, got \"2\""));
  for (const char* fine : {"workers: 1\n", "workers: auto\n"}) {
    const auto one = parse_with_tail(tls + fine);
    EXPECT_FALSE(std::any_of(one.errors.begin(), one.errors.end(),
                             [](const auto& e) { return e.key == "workers"; }))
        << fine << all_errors(one);
  }
}

TEST(Config, ExampleAndReadmeMentionEveryKey) {
  const std::string dir = std::string(MCPGW_SOURCE_DIR) + "/conf/";
  const std::string example = read_file(dir + "gateway.example.yaml");
  const std::string readme = read_file(dir + "README.md");
  for (const std::string path : {"listen",
                                 "admin_listen",
                                 "tls.cert",
                                 "tls.key",
                                 "allowed_hosts",
                                 "allowed_origins",
                                 "session_store.type",
                                 "session_store.idle_timeout",
                                 "session_store.max_sessions",
                                 "backends[].name",
                                 "backends[].http.url",
                                 "backends[].http.timeout",
                                 "backends[].http.connect_timeout",
                                 "backends[].http.tls_verify",
                                 "backends[].http.ca_file",
                                 "backends[].http.max_idle_connections",
                                 "routes[].path",
                                 "routes[].backend",
                                 "limits.max_body",
                                 "limits.max_header",
                                 "limits.max_backend_message",
                                 "limits.header_timeout",
                                 "limits.body_timeout",
                                 "limits.write_timeout",
                                 "limits.idle_connection_timeout",
                                 "limits.sse_keepalive",
                                 "limits.stream_buffer_events",
                                 "limits.max_connections",
                                 "shutdown_grace",
                                 "log_level",
                                 "workers"}) {
    const std::string leaf = path.substr(path.rfind('.') + 1);  // npos + 1 == 0
    EXPECT_NE(example.find(leaf + ":"), std::string::npos) << path;
    EXPECT_NE(readme.find("`" + path + "`"), std::string::npos) << path;
  }
}

}  // namespace
}  // namespace mcpgw

namespace mcpgw {
namespace {

config_result parse_backends(const std::string& http) {
  return parse_config_text("backends:\n  - name: conf\n    http: " + http +
                               "\nroutes: [{ path: /mcp, backend: conf }]\n",
                           "gateway.yaml");
}

TEST(ConfigReplicas, ReadsUrlsBalanceAndHealthChecks) {
  auto r = parse_backends(
      "{ urls: [\"http://10.0.0.1:3000/mcp\", \"http://10.0.0.2:3000/mcp\"], balance: "
      "hash_tenant, health_check: { interval: 250ms, timeout: 100ms, unhealthy_after: 3 } }");
  ASSERT_TRUE(r.config) << all_errors(r);
  const auto& http = r.config->backends.at(0).http;
  ASSERT_EQ(http.urls.size(), 2U);
  EXPECT_EQ(http.url, "http://10.0.0.1:3000/mcp");  // the first replica
  EXPECT_EQ(http.balance, balance_policy::hash_tenant);
  EXPECT_EQ(http.health_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(http.health_timeout, std::chrono::milliseconds(100));
  EXPECT_EQ(http.unhealthy_after, 3U);
}

TEST(ConfigReplicas, UrlAndUrlsTogetherAreAnError) {
  auto r = parse_backends("{ url: \"http://a/mcp\", urls: [\"http://b/mcp\"] }");
  EXPECT_TRUE(has_only_error(r, 3, "backends[0].http.urls", "url (one server) or urls (replicas)"));
}

TEST(ConfigReplicas, ReplicaErrorsNameTheValue) {
  EXPECT_TRUE(has_only_error(parse_backends("{ urls: [] }"), 3, "backends[0].http.urls",
                             "at least one URL"));
  EXPECT_TRUE(has_only_error(parse_backends("{ urls: [\"http://a/mcp\", \"http://a/mcp\"] }"), 3,
                             "backends[0].http.urls[1]", "duplicate replica URL \"http://a/mcp\""));
  EXPECT_TRUE(has_only_error(parse_backends("{ urls: [\"http://a/mcp\"], balance: random }"), 3,
                             "backends[0].http.balance",
                             "expected round_robin, least_loaded or hash_tenant, got \"random\""));
  EXPECT_TRUE(has_only_error(parse_backends("{ url: \"http://a/mcp\", balance: round_robin }"), 3,
                             "backends[0].http.balance", "list them in urls"));
  EXPECT_TRUE(
      has_only_error(parse_backends("{ urls: [\"http://a/mcp\"], health_check: { interval: 0s } }"),
                     3, "backends[0].http.health_check.interval", "0"));
}

TEST(ConfigReplicas, AnSseBackendHasOneUrl) {
  auto r = parse_config_text(
      "backends:\n  - name: legacy\n    sse: { urls: [\"http://a/sse\", \"http://b/sse\"] }\n"
      "routes: [{ path: /mcp, backend: legacy }]\n",
      "gateway.yaml");
  EXPECT_TRUE(has_only_error(r, 3, "backends[0].sse", "an sse backend has one url"));
}

}  // namespace
}  // namespace mcpgw

namespace mcpgw {
namespace {

const char* cluster_tail = R"(
backends: [{ name: conf, http: { url: "http://127.0.0.1:3311/mcp" } }]
routes: [{ path: /mcp, backend: conf }]
)";

TEST(ConfigCluster, ReadsListenAdvertiseSecretAndHeartbeat) {
  ::setenv("MCPGW_TEST_CLUSTER_SECRET", "0123456789abcdef-secret", 1);
  ::setenv("MCPGW_TEST_POD_IP", "10.1.2.3", 1);
  auto r = parse_config_text(
      std::string("session_store: { type: redis, url: \"redis://127.0.0.1:6379/0\" }\n"
                  "cluster: { listen: 0.0.0.0:7070, advertise: \"${MCPGW_TEST_POD_IP}:7070\", "
                  "secret_env: MCPGW_TEST_CLUSTER_SECRET, heartbeat: 2s }\n") +
          cluster_tail,
      "gateway.yaml");
  ASSERT_TRUE(r.config) << all_errors(r);
  ASSERT_TRUE(r.config->cluster.has_value());
  EXPECT_EQ(r.config->cluster->listen.port, 7070);
  EXPECT_EQ(r.config->cluster->advertise, "10.1.2.3:7070");
  EXPECT_EQ(r.config->cluster->secret, "0123456789abcdef-secret");
  EXPECT_EQ(r.config->cluster->heartbeat, std::chrono::seconds(2));
}

TEST(ConfigCluster, NeedsTheRedisStoreAndALongEnoughSecret) {
  ::setenv("MCPGW_TEST_SHORT_SECRET", "short", 1);
  auto memory = parse_config_text(
      std::string("cluster: { listen: 0.0.0.0:7070, advertise: \"10.0.0.1:7070\", "
                  "secret_env: MCPGW_TEST_SHORT_SECRET }\n") +
          cluster_tail,
      "gateway.yaml");
  ASSERT_FALSE(memory.config);
  EXPECT_TRUE(has_error(memory, 1, "cluster.secret_env", "fewer than 16 characters"))
      << all_errors(memory);
  EXPECT_TRUE(has_error(memory, 1, "cluster", "needs session_store type: redis"))
      << all_errors(memory);
}

TEST(ConfigCluster, AdvertiseMustBeHostAndPort) {
  ::setenv("MCPGW_TEST_CLUSTER_SECRET", "0123456789abcdef-secret", 1);
  auto r = parse_config_text(
      std::string("session_store: { type: redis, url: \"redis://127.0.0.1:6379/0\" }\n"
                  "cluster: { listen: 0.0.0.0:7070, advertise: \"http://10.0.0.1:7070/\", "
                  "secret_env: MCPGW_TEST_CLUSTER_SECRET }\n") +
          cluster_tail,
      "gateway.yaml");
  EXPECT_TRUE(has_only_error(r, 2, "cluster.advertise",
                             "expected the host:port the other replicas reach this one at"));
  auto ipv6 = parse_config_text(
      std::string("session_store: { type: redis, url: \"redis://127.0.0.1:6379/0\" }\n"
                  "cluster: { listen: 0.0.0.0:7070, advertise: \"fd00::1:7070\", "
                  "secret_env: MCPGW_TEST_CLUSTER_SECRET }\n") +
          cluster_tail,
      "gateway.yaml");
  EXPECT_TRUE(has_only_error(ipv6, 2, "cluster.advertise", "[fd00::5]:7070"));
  auto bracketed = parse_config_text(
      std::string("session_store: { type: redis, url: \"redis://127.0.0.1:6379/0\" }\n"
                  "cluster: { listen: 0.0.0.0:7070, advertise: \"[fd00::1]:7070\", "
                  "secret_env: MCPGW_TEST_CLUSTER_SECRET }\n") +
          cluster_tail,
      "gateway.yaml");
  EXPECT_TRUE(bracketed.config) << all_errors(bracketed);
}

}  // namespace
}  // namespace mcpgw
