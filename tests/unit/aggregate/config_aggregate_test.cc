// Tests for aggregated routes in gateway.yaml (routes[].backends): members as names or maps,
// prefixes and separators, include/exclude globs, defaults, and every rejected form with its
// line, key and value.
#include "mcpgw/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>

namespace mcpgw {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view backends = R"(backends:
  - name: conf
    http: { url: http://127.0.0.1:3311/mcp }
  - name: files
    http: { url: http://127.0.0.1:3312/mcp }
  - name: my_db
    stdio: { command: [/bin/sh] }
  - name: 9lives
    http: { url: http://127.0.0.1:3313/mcp }
)";

config_result parse(std::string_view routes) {
  return parse_config_text(std::string(backends) + std::string(routes), "gateway.yaml");
}

std::string all_errors(const config_result& result) {
  std::string out;
  for (const auto& error : result.errors) {
    out += "\n  " + error.to_string();
  }
  return out.empty() ? " (no errors)" : out;
}

::testing::AssertionResult has_error(const config_result& result, int line, std::string_view key,
                                     std::string_view fragment) {
  const bool found = std::any_of(result.errors.begin(), result.errors.end(), [&](const auto& e) {
    return e.line == line && e.key == key && e.message.find(fragment) != std::string::npos;
  });
  if (found && !result.config) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "no error at line " << line << " key '" << key << "' containing '" << fragment
         << "'; got" << all_errors(result);
}

TEST(ConfigAggregate, NamesAndMapsWithDefaults) {
  const config_result r = parse(R"(routes:
  - path: /mcp
    backends:
      - conf
      - name: files
        prefix: fs
        separator: "."
        tools: { include: ["read*"], exclude: ["*_admin"] }
      - name: my_db
        prefix: ""
    resources: { exclude: ["secret+*"] }
    upstream_sessions: lazy
    list_timeout: 2s
    rejoin_interval: 10s
  - path: /one
    backend: conf
)");
  ASSERT_TRUE(r.config) << all_errors(r);
  const route_config& route = r.config->routes[0];
  ASSERT_TRUE(route.aggregated());
  ASSERT_EQ(route.members.size(), 3u);
  EXPECT_EQ(route.members[0].backend, "conf");
  EXPECT_EQ(route.members[0].prefix, "conf");
  EXPECT_EQ(route.members[0].separator, "__");
  EXPECT_EQ(route.members[0].uri_prefix, "conf");
  EXPECT_EQ(route.members[1].prefix, "fs");
  EXPECT_EQ(route.members[1].separator, ".");
  EXPECT_TRUE(route.members[1].filters.tools.admits("read_file"));
  EXPECT_FALSE(route.members[1].filters.tools.admits("write_file"));
  EXPECT_FALSE(route.members[1].filters.tools.admits("read_admin"));
  EXPECT_EQ(route.members[2].prefix, "");
  EXPECT_EQ(route.members[2].uri_prefix, "");
  EXPECT_FALSE(route.filters.resources.admits("secret+x://1"));
  EXPECT_EQ(route.upstream_sessions, upstream_mode::lazy);
  EXPECT_EQ(route.list_timeout, 2s);
  EXPECT_EQ(route.rejoin_interval, 10s);
  EXPECT_FALSE(r.config->routes[1].aggregated());
  EXPECT_EQ(r.config->routes[1].backend, "conf");
}

TEST(ConfigAggregate, DefaultsOfAnAggregatedRoute) {
  const config_result r = parse(R"(routes:
  - path: /mcp
    backends: [conf, my_db]
)");
  ASSERT_TRUE(r.config) << all_errors(r);
  const route_config& route = r.config->routes[0];
  EXPECT_EQ(route.upstream_sessions, upstream_mode::eager);
  EXPECT_EQ(route.list_timeout, 5s);
  EXPECT_EQ(route.rejoin_interval, 30s);
  EXPECT_EQ(route.members[1].uri_prefix, "my-db");  // '_' is not allowed in a URI scheme
  EXPECT_TRUE(route.filters.tools.empty());
}

TEST(ConfigAggregate, RejectsUnknownAndRepeatedBackends) {
  const config_result r = parse(R"(routes:
  - path: /mcp
    backends: [conf, nope, conf]
)");
  EXPECT_TRUE(has_error(r, 12, "routes[0].backends[1]", "got \"nope\""));
  EXPECT_TRUE(has_error(r, 12, "routes[0].backends[2]", "\"conf\" is already on this route"));
}

TEST(ConfigAggregate, RejectsCollidingPrefixes) {
  const config_result r = parse(R"(routes:
  - path: /a
    backends:
      - { name: conf, prefix: "" }
      - { name: files, prefix: "" }
  - path: /b
    backends:
      - { name: conf, prefix: x }
      - { name: files, prefix: x }
  - path: /c
    backends:
      - { name: conf, prefix: my_db }
      - { name: my_db }
)");
  EXPECT_TRUE(has_error(r, 14, "routes[0].backends[1]", "both have no prefix"));
  EXPECT_TRUE(has_error(r, 18, "routes[1].backends[1].prefix", "both name their tools \"x__\""));
  EXPECT_TRUE(has_error(r, 22, "routes[2].backends[1]", "both name their tools \"my_db__\""));
}

TEST(ConfigAggregate, RejectsPrefixesThatBeginOneAnother) {
  const config_result r = parse(R"(routes:
  - path: /a
    backends:
      - { name: conf, prefix: a }
      - { name: files, prefix: a__b }
  - path: /b
    backends:
      - { name: conf, prefix: a }
      - { name: files, prefix: ab }
)");
  EXPECT_TRUE(has_error(r, 14, "routes[0].backends[1].prefix", "could be read as each other's"));
  EXPECT_EQ(r.errors.size(), 1u) << all_errors(r);  // "a__" does not begin "ab__"
}

TEST(ConfigAggregate, RejectsUriPrefixCollisionsAndBadPrefixes) {
  const config_result r = parse(R"(routes:
  - path: /a
    backends:
      - { name: conf, prefix: a_b }
      - { name: files, prefix: A-b }
  - path: /b
    backends:
      - 9lives
      - { name: files, prefix: "has space" }
      - { name: conf, separator: "" }
)");
  EXPECT_TRUE(has_error(r, 14, "routes[0].backends[1].prefix", "resource URIs to \"a-b+...\""));
  EXPECT_TRUE(has_error(r, 17, "routes[1].backends[0]", "starting with a letter"));
  EXPECT_TRUE(has_error(r, 18, "routes[1].backends[1].prefix", "\"has space\""));
  EXPECT_TRUE(has_error(r, 19, "routes[1].backends[2].separator", "got \"\""));
}

TEST(ConfigAggregate, RejectsMixedAndMisplacedKeys) {
  const config_result r = parse(R"(routes:
  - path: /a
    backend: conf
    backends: [files]
  - path: /b
    backend: conf
    tools: { include: ["x"] }
  - path: /c
    backends: []
  - path: /d
    backends: [conf]
    upstream_sessions: sometimes
    tools: { allow: ["x"] }
    list_timeout: 0s
  - path: /e
)");
  EXPECT_TRUE(has_error(r, 13, "routes[0].backends", "either backend"));
  EXPECT_TRUE(has_error(r, 16, "routes[1].tools", "only an aggregated route"));
  EXPECT_TRUE(has_error(r, 18, "routes[2].backends", "at least one backend"));
  EXPECT_TRUE(has_error(r, 21, "routes[3].upstream_sessions", "got \"sometimes\""));
  EXPECT_TRUE(has_error(r, 22, "routes[3].tools.allow", "unknown key"));
  EXPECT_TRUE(has_error(r, 23, "routes[3].list_timeout", "greater than zero"));
  EXPECT_TRUE(has_error(r, 24, "routes[4].backend", "or backends"));
}

}  // namespace
}  // namespace mcpgw
