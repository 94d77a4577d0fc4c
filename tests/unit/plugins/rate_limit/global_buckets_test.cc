// Global rate limits: the Lua token bucket in a real redis-server, shared by two clients as
// two replicas would share it, and the filter's on_store_error when Redis is unreachable.
#include "rate_limit/global_buckets.h"

#include "builtin.h"
#include "rate_limit/rate_limit_filter.h"
#include "store/redis_client.h"
#include "unit/co_run.h"
#include "unit/store/redis_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <exception>

using namespace mcpgw;
using namespace mcpgw::plugins::rate_limit;
using namespace std::chrono_literals;

namespace {

logger quiet(log_level::error, stderr);

std::shared_ptr<redis_client> client(net::any_io_executor ex, std::uint16_t port) {
  redis_options o;
  o.port = port;
  o.command_timeout = 500ms;
  return std::make_shared<redis_client>(ex, o, quiet);
}

TEST(GlobalBuckets, ScriptArgumentsCarryKeysThenRatesPerMillisecondAndBursts) {
  global_draw a{"p:ratelimit:rules[0]:acme", {100, 60000ms, 20}};
  global_draw b{"p:ratelimit:rules[1]:x", {5, 1000ms, 5}};
  std::array<global_draw, 2> draws{a, b};
  auto args = script_arguments("abc", draws);
  ASSERT_EQ(args.size(), 9U);
  EXPECT_EQ(args[0], "EVALSHA");
  EXPECT_EQ(args[1], "abc");
  EXPECT_EQ(args[2], "2");
  EXPECT_EQ(args[3], a.key);
  EXPECT_EQ(args[4], b.key);
  EXPECT_DOUBLE_EQ(std::stod(args[5]), 100.0 / 60000.0);
  EXPECT_EQ(args[6], "20");
  EXPECT_DOUBLE_EQ(std::stod(args[7]), 0.005);
  EXPECT_EQ(args[8], "5");
}

TEST(GlobalBuckets, ReadsTheScriptsReplyAndRefusesNonsense) {
  redis_reply ok;
  ok.type = redis_reply::kind::array;
  ok.elements.resize(2);
  ok.elements[0].type = ok.elements[1].type = redis_reply::kind::integer;
  EXPECT_EQ(read_script_reply(ok, 2).result, global_decision::outcome::allowed);
  ok.elements[0].integer = 2;
  ok.elements[1].integer = 1500;
  auto refused = read_script_reply(ok, 2);
  EXPECT_EQ(refused.result, global_decision::outcome::refused);
  EXPECT_EQ(refused.refused, 1U);
  EXPECT_EQ(refused.retry_after, 1500ms);
  ok.elements[0].integer = 3;  // names a draw that was not sent
  EXPECT_EQ(read_script_reply(ok, 2).result, global_decision::outcome::unavailable);
  redis_reply error;
  error.type = redis_reply::kind::error;
  error.str = "ERR user_script:1: boom";
  auto failed = read_script_reply(error, 1);
  EXPECT_EQ(failed.result, global_decision::outcome::unavailable);
  EXPECT_NE(failed.error.find("boom"), std::string::npos);
}

TEST(GlobalBuckets, TwoReplicasTogetherGetNoMoreThanTheLimit) {
  mcpgw::testing::redis_server server;
  int allowed = 0;
  int refused = 0;
  mcpgw::testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c1 = client(ex, server.port());
    auto c2 = client(ex, server.port());
    global_buckets one(c1, "gw:");
    global_buckets two(c2, "gw:");
    global_draw d{one.bucket_key("rules[0]", "acme"), {5, 60000ms, 5}};
    std::array<global_draw, 1> draws{d};
    for (int i = 0; i < 8; ++i) {
      global_decision r = co_await (i % 2 ? two : one).take(draws);
      EXPECT_NE(r.result, global_decision::outcome::unavailable) << r.error;
      if (r.result == global_decision::outcome::allowed) {
        ++allowed;
      } else {
        ++refused;
        EXPECT_GT(r.retry_after, 0ms);
        EXPECT_LE(r.retry_after, 12000ms);  // one token per 12 s
      }
    }
    c1->close();
    c2->close();
  });
  EXPECT_EQ(allowed, 5);
  EXPECT_EQ(refused, 3);
}

TEST(GlobalBuckets, StopsAtTheFirstEmptyBucketAndRefillsAtTheRate) {
  mcpgw::testing::redis_server server;
  mcpgw::testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client(ex, server.port());
    global_buckets g(c, "gw:");
    std::array<global_draw, 2> draws{global_draw{g.bucket_key("rules[0]", "a"), {100, 1000ms, 100}},
                                     global_draw{g.bucket_key("rules[1]", "a"), {1, 100ms, 1}}};
    EXPECT_EQ((co_await g.take(draws)).result, global_decision::outcome::allowed);
    global_decision second = co_await g.take(draws);
    EXPECT_EQ(second.result, global_decision::outcome::refused);
    EXPECT_EQ(second.refused, 1U);
    EXPECT_LE(second.retry_after, 100ms);
    net::steady_timer t(ex);
    t.expires_after(120ms);
    co_await t.async_wait(net::use_awaitable);
    EXPECT_EQ((co_await g.take(draws)).result, global_decision::outcome::allowed);
    // Buckets expire once they would be full again: Redis keeps no idle keys.
    std::array<std::string_view, 2> pttl{"PTTL", draws[1].key};
    redis_result r = co_await c->command(pttl);
    EXPECT_GT(r.reply.integer, 0);
    EXPECT_LE(r.reply.integer, 1100);
    c->close();
  });
}

TEST(GlobalBuckets, LoadsTheScriptAgainAfterAFlush) {
  mcpgw::testing::redis_server server;
  mcpgw::testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client(ex, server.port());
    global_buckets g(c, "gw:");
    std::array<global_draw, 1> draws{global_draw{g.bucket_key("rules[0]", "k"), {10, 1000ms, 10}}};
    EXPECT_EQ((co_await g.take(draws)).result, global_decision::outcome::allowed);
    std::array<std::string_view, 2> flush{"SCRIPT", "FLUSH"};
    co_await c->command(flush);
    global_decision after = co_await g.take(draws);
    EXPECT_EQ(after.result, global_decision::outcome::allowed) << after.error;
    c->close();
  });
}

// The filter with store: redis and an unreachable Redis.
struct unreachable_fixture {
  config_result result;
  std::unique_ptr<filter> built;

  unreachable_fixture(net::any_io_executor ex, const std::string& policy, std::uint16_t port) {
    filter_registry registry;
    plugins::register_builtin_filters(registry);
    result = parse_config_text(
        "backends: [{ name: github, http: { url: \"http://127.0.0.1:3311/mcp\" } }]\n"
        "routes: [{ path: /mcp, backend: github }]\n"
        "session_store: { type: redis, url: \"redis://127.0.0.1:" +
            std::to_string(port) +
            "/0\" }\n"
            "filters:\n"
            "  - rate_limit:\n"
            "      store: redis\n"
            "      on_store_error: " +
            policy +
            "\n"
            "      rules: [{ match: { method: tools/call }, limit: 1, per: 1m }]\n",
        "gateway.yaml", &registry);
    if (!result.config) {
      ADD_FAILURE() << result.errors.at(0).to_string();
      return;
    }
    built =
        result.config->filters.at(0).factory->create({ex, quiet, *result.config, client(ex, port)});
  }

  net::awaitable<std::pair<filter_status, std::string>> call(std::string id) {
    principal who;
    who.tenant = "acme";
    message_context ctx{
        who, nullptr, "/mcp", "github", "sid", jsonrpc::message_kind::request, "tools/call", "echo",
        id,  "{}",    {},     {},       {}};
    filter_status s = co_await built->on_request(ctx);
    co_return std::pair{s, ctx.reply.message};
  }
};

TEST(RateLimit, RedisUnreachableWithOnStoreErrorLocalFallsBackToThisProcesssBuckets) {
  auto port = mcpgw::testing::redis_server::free_port();
  mcpgw::testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    unreachable_fixture f(ex, "local", port);
    auto first = co_await f.call("1");
    EXPECT_EQ(first.first, filter_status::next) << first.second;
    auto second = co_await f.call("2");
    EXPECT_EQ(second.first, filter_status::stop);
    EXPECT_NE(second.second.find("rate limit rules[0]"), std::string::npos) << second.second;
    auto* rl = dynamic_cast<rate_limit_filter*>(f.built.get());
    EXPECT_EQ(rl->stats().store_errors, 2U);
    EXPECT_EQ(rl->stats().store_denied, 0U);
  });
}

TEST(RateLimit, RedisUnreachableWithOnStoreErrorDenyRefusesEveryCall) {
  auto port = mcpgw::testing::redis_server::free_port();
  mcpgw::testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    unreachable_fixture f(ex, "deny", port);
    auto first = co_await f.call("1");
    EXPECT_EQ(first.first, filter_status::stop);
    EXPECT_NE(first.second.find("unavailable and on_store_error is deny"), std::string::npos)
        << first.second;
    auto* rl = dynamic_cast<rate_limit_filter*>(f.built.get());
    EXPECT_EQ(rl->stats().store_denied, 1U);
  });
}

}  // namespace
