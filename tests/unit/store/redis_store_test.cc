// The Redis client and the Redis session store against a real redis-server on loopback.
#include "store/redis_client.h"
#include "store/session_store.h"
#include "unit/co_run.h"
#include "unit/store/redis_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <exception>

namespace mcpgw {
namespace {

using testing::redis_server;
using namespace std::chrono_literals;

logger quiet(log_level::error, stderr);

std::shared_ptr<redis_client> client_for(net::any_io_executor ex, const std::string& url,
                                         duration timeout = 1s) {
  redis_options o;
  std::string error;
  EXPECT_TRUE(parse_redis_url(url, o, error)) << error;
  o.command_timeout = timeout;
  return std::make_shared<redis_client>(ex, o, quiet);
}

template <std::size_t N>
net::awaitable<redis_result> cmd(redis_client& c, const std::array<std::string_view, N>& args) {
  co_return co_await c.command(args);
}

TEST(RedisClient, SetsAndGetsOnARealServer) {
  redis_server server;
  testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client_for(ex, server.url());
    redis_result set = co_await cmd<3>(*c, {"SET", "k", "v"});
    EXPECT_TRUE(set.ok()) << set.error;
    EXPECT_EQ(set.reply.str, "OK");
    redis_result get = co_await cmd<2>(*c, {"GET", "k"});
    EXPECT_EQ(get.reply.str, "v");
    redis_result missing = co_await cmd<2>(*c, {"GET", "nothing"});
    EXPECT_EQ(missing.reply.type, redis_reply::kind::nil);
    redis_result wrong = co_await cmd<2>(*c, {"NOSUCHCOMMAND", "x"});
    EXPECT_TRUE(wrong.ok());
    EXPECT_TRUE(wrong.reply.is_error());
    EXPECT_TRUE(c->connected());
    EXPECT_EQ(c->commands_sent(), 4U);
    c->close();
  });
}

TEST(RedisClient, PipelinesConcurrentCommandsAndMatchesEveryReply) {
  redis_server server;
  constexpr int n = 500;
  int matched = 0;
  testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client_for(ex, server.url());
    auto one = [c, &matched](int i) -> net::awaitable<void> {
      std::string key = "k" + std::to_string(i);
      std::string value = "v" + std::to_string(i);
      co_await cmd<3>(*c, {"SET", key, value});
      redis_result r = co_await cmd<2>(*c, {"GET", key});
      if (r.reply.str == value) {
        ++matched;
      }
    };
    for (int i = 0; i < n; ++i) {
      net::co_spawn(ex, one(i), net::detached);
    }
    net::steady_timer t(ex);
    for (int waited = 0; matched < n && waited < 500; ++waited) {
      t.expires_after(10ms);
      co_await t.async_wait(net::use_awaitable);
    }
    c->close();
  });
  EXPECT_EQ(matched, n);
}

TEST(RedisClient, AuthenticatesAndSelectsTheDatabase) {
  redis_server server({"--requirepass", "s3cret"});
  testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client_for(ex, "redis://:s3cret@127.0.0.1:" + std::to_string(server.port()) + "/3");
    redis_result set = co_await cmd<3>(*c, {"SET", "in3", "yes"});
    EXPECT_TRUE(set.ok() && !set.reply.is_error()) << set.error << set.reply.str;
    auto other = client_for(ex, "redis://:s3cret@127.0.0.1:" + std::to_string(server.port()));
    redis_result in0 = co_await cmd<2>(*other, {"GET", "in3"});
    EXPECT_EQ(in0.reply.type, redis_reply::kind::nil);
    redis_result in3 = co_await cmd<2>(*c, {"GET", "in3"});
    EXPECT_EQ(in3.reply.str, "yes");
    c->close();
    other->close();
  });
}

TEST(RedisClient, AWrongPasswordFailsWithTheServersReason) {
  redis_server server({"--requirepass", "s3cret"});
  testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client_for(ex, "redis://:wrong@127.0.0.1:" + std::to_string(server.port()));
    redis_result r = co_await cmd<2>(*c, {"GET", "k"});
    // The command after a refused AUTH gets NOAUTH from the server, or the dropped connection.
    EXPECT_TRUE(!r.ok() || r.reply.is_error());
    net::steady_timer t(ex);
    t.expires_after(50ms);
    co_await t.async_wait(net::use_awaitable);
    redis_result again = co_await cmd<2>(*c, {"GET", "k"});
    EXPECT_EQ(again.failure, redis_failure::unreachable);
    EXPECT_NE(again.error.find("refused the connection set-up"), std::string::npos) << again.error;
    c->close();
  });
}

TEST(RedisClient, FailsFastWhileTheServerIsDownAndReconnectsAfter) {
  auto port = redis_server::free_port();
  testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client_for(ex, "redis://127.0.0.1:" + std::to_string(port));
    auto started = std::chrono::steady_clock::now();
    redis_result first = co_await cmd<1>(*c, {"PING"});
    EXPECT_EQ(first.failure, redis_failure::unreachable);
    EXPECT_NE(first.error.find("cannot connect to redis at 127.0.0.1:" + std::to_string(port)),
              std::string::npos)
        << first.error;
    redis_result second = co_await cmd<1>(*c, {"PING"});
    EXPECT_EQ(second.failure, redis_failure::unreachable);
    EXPECT_NE(second.error.find("next attempt in"), std::string::npos) << second.error;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 500ms);
    c->close();
  });
}

TEST(RedisClient, ACommandTimesOutOnAStoppedServerAndTheNextOneReconnects) {
  redis_server server;
  testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client_for(ex, server.url(), 200ms);
    redis_result ok = co_await cmd<1>(*c, {"PING"});
    EXPECT_EQ(ok.reply.str, "PONG");
    server.pause();
    auto started = std::chrono::steady_clock::now();
    redis_result stuck = co_await cmd<1>(*c, {"PING"});
    auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(stuck.failure, redis_failure::timeout);
    EXPECT_NE(stuck.error.find("did not answer within 200 ms"), std::string::npos) << stuck.error;
    EXPECT_GE(took, 190ms);
    EXPECT_LT(took, 1s);
    server.resume();
    redis_result back = co_await cmd<1>(*c, {"PING"});
    EXPECT_EQ(back.reply.str, "PONG") << back.error;
    c->close();
  });
}

TEST(RedisClient, SurvivesARestartOfTheServer) {
  redis_server server;
  testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client_for(ex, server.url());
    co_await cmd<3>(*c, {"SET", "k", "v"});
    server.stop();
    redis_result during = co_await cmd<1>(*c, {"PING"});
    EXPECT_FALSE(during.ok());
    server.start();
    // Within the back-off commands fail fast; after it, one reconnects.
    redis_result after;
    after.failure = redis_failure::unreachable;
    net::steady_timer t(ex);
    for (int i = 0; i < 100 && !after.ok(); ++i) {
      after = co_await cmd<1>(*c, {"PING"});
      t.expires_after(20ms);
      co_await t.async_wait(net::use_awaitable);
    }
    EXPECT_EQ(after.reply.str, "PONG") << after.error;
    c->close();
  });
}

TEST(RedisClient, CloseFailsWhatWaitsAndEverythingAfter) {
  redis_server server;
  testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client_for(ex, server.url());
    server.pause();
    redis_result waiting;
    bool done = false;
    net::co_spawn(
        ex,
        [&]() -> net::awaitable<void> {
          waiting = co_await cmd<1>(*c, {"PING"});
          done = true;
        },
        net::detached);
    net::steady_timer t(ex);
    t.expires_after(50ms);
    co_await t.async_wait(net::use_awaitable);
    c->close();
    t.expires_after(10ms);
    co_await t.async_wait(net::use_awaitable);
    EXPECT_TRUE(done);
    EXPECT_EQ(waiting.failure, redis_failure::closed);
    redis_result after = co_await cmd<1>(*c, {"PING"});
    EXPECT_EQ(after.failure, redis_failure::closed);
    server.resume();
  });
}

TEST(RedisSessionStore, PutGetTouchEraseWithASlidingTtl) {
  redis_server server;
  testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client_for(ex, server.url());
    redis_session_store store(c, "test:");
    session_record r;
    r.id = "abc";
    r.route = "/mcp";
    r.backend = "demo";
    r.upstream_id = "up-1";
    r.protocol_version = "2025-11-25";
    r.who.via = principal::method::api_key;
    r.who.tenant = "acme";
    r.who.subject = "key:0011aabb";
    store_result put = co_await store.put(r, 60s);
    EXPECT_EQ(put.status, store_status::ok) << put.error;
    redis_result ttl = co_await cmd<2>(*c, {"PTTL", "test:session:abc"});
    EXPECT_GT(ttl.reply.integer, 59000);
    session_record back;
    store_result got = co_await store.get("abc", back);
    EXPECT_EQ(got.status, store_status::ok);
    EXPECT_EQ(back.upstream_id, "up-1");
    EXPECT_TRUE(back.who.same_as(r.who));
    EXPECT_EQ((co_await store.touch("abc", 120s)).status, store_status::ok);
    ttl = co_await cmd<2>(*c, {"PTTL", "test:session:abc"});
    EXPECT_GT(ttl.reply.integer, 119000);
    EXPECT_EQ((co_await store.erase("abc")).status, store_status::ok);
    EXPECT_EQ((co_await store.get("abc", back)).status, store_status::not_found);
    EXPECT_EQ((co_await store.touch("abc", 1s)).status, store_status::not_found);
    c->close();
  });
}

TEST(RedisSessionStore, ARecordExpiresWithItsTtl) {
  redis_server server;
  testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client_for(ex, server.url());
    redis_session_store store(c, "mcpgw:");
    session_record r;
    r.id = "short";
    co_await store.put(r, 30ms);
    net::steady_timer t(ex);
    t.expires_after(80ms);
    co_await t.async_wait(net::use_awaitable);
    session_record back;
    EXPECT_EQ((co_await store.get("short", back)).status, store_status::not_found);
    c->close();
  });
}

TEST(RedisSessionStore, AForeignValueUnderTheKeyIsReportedNotTrusted) {
  redis_server server;
  testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client_for(ex, server.url());
    co_await cmd<3>(*c, {"SET", "mcpgw:session:x", "something else"});
    redis_session_store store(c, "mcpgw:");
    session_record back;
    store_result got = co_await store.get("x", back);
    EXPECT_EQ(got.status, store_status::unavailable);
    EXPECT_NE(got.error.find("not a session record"), std::string::npos) << got.error;
    c->close();
  });
}

TEST(RedisSessionStore, ReportsAnUnreachableServer) {
  auto port = redis_server::free_port();
  testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    auto c = client_for(ex, "redis://127.0.0.1:" + std::to_string(port));
    redis_session_store store(c, "mcpgw:");
    session_record back;
    store_result got = co_await store.get("x", back);
    EXPECT_EQ(got.status, store_status::unavailable);
    EXPECT_NE(got.error.find("cannot connect"), std::string::npos) << got.error;
    c->close();
  });
}

TEST(MemorySessionStore, KeepsRecordsUntilErasedOrExpired) {
  testing::co_run([&](net::any_io_executor ex) -> net::awaitable<void> {
    memory_session_store store;
    session_record r;
    r.id = "m1";
    r.upstream_id = "u";
    co_await store.put(r, 60s);
    session_record back;
    EXPECT_EQ((co_await store.get("m1", back)).status, store_status::ok);
    EXPECT_EQ(back.upstream_id, "u");
    EXPECT_EQ((co_await store.touch("m1", 60s)).status, store_status::ok);
    co_await store.erase("m1");
    EXPECT_EQ((co_await store.get("m1", back)).status, store_status::not_found);
    r.id = "m2";
    co_await store.put(r, 1ms);
    net::steady_timer t(ex);
    t.expires_after(5ms);
    co_await t.async_wait(net::use_awaitable);
    EXPECT_EQ((co_await store.get("m2", back)).status, store_status::not_found);
    EXPECT_EQ((co_await store.touch("m2", 60s)).status, store_status::not_found);
    EXPECT_FALSE(store.shared());
  });
}

}  // namespace
}  // namespace mcpgw
