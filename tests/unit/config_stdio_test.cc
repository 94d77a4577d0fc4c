// stdio backends in gateway.yaml: keys, defaults and every error the parser reports for them.
#include "mcpgw/config.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace mcpgw {
namespace {

using namespace std::chrono_literals;

config_result parse(const std::string& backend) {
  return parse_config_text(
      "backends:\n" + backend + "routes:\n  - path: /mcp\n    backend: files\n", "gateway.yaml");
}

std::string all_errors(const config_result& result) {
  std::string out;
  for (const auto& e : result.errors) {
    out += "\n  " + e.to_string();
  }
  return out;
}

::testing::AssertionResult has_only_error(const config_result& result, int line,
                                          std::string_view key, std::string_view fragment) {
  if (result.errors.size() != 1) {
    return ::testing::AssertionFailure() << "wanted exactly one error; got" << all_errors(result);
  }
  const config_error& e = result.errors.front();
  if (e.line != line || e.key != key || e.message.find(fragment) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "wanted line " << line << ", key " << key << ", message with \"" << fragment
           << "\"; got" << all_errors(result);
  }
  return ::testing::AssertionSuccess();
}

TEST(ConfigStdio, EveryKeyIsRead) {
  auto result = parse(R"(  - name: files
    stdio:
      command: [sh, -c, "exec cat"]
      env: { LOG_LEVEL: debug, API_URL: "http://x" }
      cwd: /tmp
      pool: { warm: 3, max: 7 }
      timeout: 5s
      shutdown_timeout: 250ms
)");
  ASSERT_TRUE(result.config) << all_errors(result);
  const backend_config& b = result.config->backends.at(0);
  EXPECT_EQ(b.kind, backend_kind::stdio);
  EXPECT_EQ(b.stdio.command, (std::vector<std::string>{"sh", "-c", "exec cat"}));
  ASSERT_EQ(b.stdio.env.size(), 2U);
  EXPECT_EQ(b.stdio.env[0], (std::pair<std::string, std::string>{"LOG_LEVEL", "debug"}));
  EXPECT_EQ(b.stdio.env[1], (std::pair<std::string, std::string>{"API_URL", "http://x"}));
  EXPECT_EQ(b.stdio.cwd, "/tmp");
  EXPECT_EQ(b.stdio.pool_warm, 3U);
  EXPECT_EQ(b.stdio.pool_max, 7U);
  EXPECT_EQ(b.stdio.timeout, duration(5s));
  EXPECT_EQ(b.stdio.shutdown_timeout, duration(250ms));
}

TEST(ConfigStdio, OmittedKeysGetTheirDefaults) {
  auto result = parse("  - name: files\n    stdio: { command: [sh] }\n");
  ASSERT_TRUE(result.config) << all_errors(result);
  const stdio_backend_config& s = result.config->backends.at(0).stdio;
  EXPECT_TRUE(s.env.empty());
  EXPECT_EQ(s.cwd, "");
  EXPECT_EQ(s.pool_warm, 1U);
  EXPECT_EQ(s.pool_max, 100U);
  EXPECT_EQ(s.timeout, duration(60s));
  EXPECT_EQ(s.shutdown_timeout, duration(2s));
}

TEST(ConfigStdio, WarmZeroIsAllowed) {
  auto result = parse("  - name: files\n    stdio: { command: [sh], pool: { warm: 0 } }\n");
  ASSERT_TRUE(result.config) << all_errors(result);
  EXPECT_EQ(result.config->backends.at(0).stdio.pool_warm, 0U);
}

TEST(ConfigStdio, CommandIsRequiredAndNotEmpty) {
  EXPECT_TRUE(has_only_error(parse("  - name: files\n    stdio: { cwd: /tmp }\n"), 3,
                             "backends[0].stdio.command", "missing; expected the program"));
  EXPECT_TRUE(has_only_error(parse("  - name: files\n    stdio: { command: [] }\n"), 3,
                             "backends[0].stdio.command", "got an empty list"));
  EXPECT_TRUE(has_only_error(parse("  - name: files\n    stdio: { command: sh }\n"), 3,
                             "backends[0].stdio.command", "expected a list"));
  EXPECT_TRUE(has_only_error(parse("  - name: files\n    stdio: { command: [\"\"] }\n"), 3,
                             "backends[0].stdio.command[0]", "expected a program name"));
}

TEST(ConfigStdio, ProgramMustBeFound) {
  EXPECT_TRUE(has_only_error(
      parse("  - name: files\n    stdio: { command: [mcpgw-no-such-program-xyz, --stdio] }\n"), 3,
      "backends[0].stdio.command[0]", "\"mcpgw-no-such-program-xyz\" is not found in PATH"));
  EXPECT_TRUE(has_only_error(parse("  - name: files\n    stdio: { command: [/nonexistent/srv] }\n"),
                             3, "backends[0].stdio.command[0]", "is not an executable file"));
  // A relative path is looked up from cwd.
  EXPECT_TRUE(parse("  - name: files\n    stdio: { command: [./sh], cwd: /bin }\n").config);
}

TEST(ConfigStdio, CwdMustBeADirectory) {
  EXPECT_TRUE(has_only_error(
      parse("  - name: files\n    stdio: { command: [sh], cwd: /nonexistent/dir }\n"), 3,
      "backends[0].stdio.cwd", "expected an existing directory, got \"/nonexistent/dir\""));
}

TEST(ConfigStdio, PoolBounds) {
  EXPECT_TRUE(has_only_error(
      parse("  - name: files\n    stdio: { command: [sh], pool: { warm: 5, max: 2 } }\n"), 3,
      "backends[0].stdio.pool.warm", "warm (5) must not exceed max (2)"));
  EXPECT_TRUE(has_only_error(
      parse("  - name: files\n    stdio: { command: [sh], pool: { warm: 0, max: 0 } }\n"), 3,
      "backends[0].stdio.pool.max", "greater than zero"));
  EXPECT_TRUE(
      has_only_error(parse("  - name: files\n    stdio: { command: [sh], pool: { warm: -1 } }\n"),
                     3, "backends[0].stdio.pool.warm", "expected a whole number"));
  EXPECT_TRUE(
      has_only_error(parse("  - name: files\n    stdio: { command: [sh], pool: { spare: 1 } }\n"),
                     3, "backends[0].stdio.pool.spare", "unknown key"));
}

TEST(ConfigStdio, EnvNamesAndValues) {
  EXPECT_TRUE(has_only_error(
      parse("  - name: files\n    stdio:\n      command: [sh]\n      env: { 1BAD: x }\n"), 5,
      "backends[0].stdio.env", "expected an environment variable name"));
  EXPECT_TRUE(has_only_error(
      parse("  - name: files\n    stdio:\n      command: [sh]\n      env: { A-B: x }\n"), 5,
      "backends[0].stdio.env", "got \"A-B\""));
  EXPECT_TRUE(has_only_error(
      parse("  - name: files\n    stdio:\n      command: [sh]\n      env: { A: [1, 2] }\n"), 5,
      "backends[0].stdio.env.A", "expected a string value, got a list"));
  EXPECT_TRUE(
      has_only_error(parse("  - name: files\n    stdio:\n      command: [sh]\n      env: [A]\n"), 5,
                     "backends[0].stdio.env", "expected a map of environment variables"));
}

TEST(ConfigStdio, TimeoutsMustBePositive) {
  EXPECT_TRUE(has_only_error(parse("  - name: files\n    stdio: { command: [sh], timeout: 0s }\n"),
                             3, "backends[0].stdio.timeout", "greater than zero"));
  EXPECT_TRUE(
      has_only_error(parse("  - name: files\n    stdio: { command: [sh], shutdown_timeout: 2 }\n"),
                     3, "backends[0].stdio.shutdown_timeout", "missing unit"));
}

TEST(ConfigStdio, ABackendIsHttpOrStdio) {
  EXPECT_TRUE(has_only_error(
      parse("  - name: files\n    http: { url: http://127.0.0.1:1/mcp }\n    stdio: { command: "
            "[sh] }\n"),
      4, "backends[0].stdio", "one of http, sse or stdio, not several"));
  EXPECT_TRUE(has_only_error(parse("  - name: files\n"), 2, "backends[0].http",
                             "or stdio: { command: [...] }"));
}

TEST(ConfigStdio, SseBackendsTakeTheHttpKeys) {
  auto result =
      parse("  - name: files\n    sse: { url: http://127.0.0.1:3001/sse, timeout: 5s }\n");
  ASSERT_TRUE(result.config) << all_errors(result);
  const backend_config& b = result.config->backends.at(0);
  EXPECT_EQ(b.kind, backend_kind::sse);
  EXPECT_EQ(b.http.url, "http://127.0.0.1:3001/sse");
  EXPECT_EQ(b.http.timeout, duration(5s));
  EXPECT_TRUE(has_only_error(parse("  - name: files\n    sse: { url: ftp://x/sse }\n"), 3,
                             "backends[0].sse.url", "http://"));
}

TEST(ConfigStdio, UnknownKeyGetsASuggestion) {
  EXPECT_TRUE(has_only_error(parse("  - name: files\n    stdio: { command: [sh], comand: [x] }\n"),
                             3, "backends[0].stdio.comand", "did you mean \"command\"?"));
}

}  // namespace
}  // namespace mcpgw
