#include "builtin.h"
#include "rate_limit/rate_limit_filter.h"
#include "rate_limit/token_bucket.h"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

using namespace mcpgw;
using namespace mcpgw::plugins::rate_limit;
using namespace std::chrono_literals;

namespace {

class no_headers final : public request_headers {
 public:
  std::string_view get(std::string_view) const override { return {}; }
};

config_result parse(const std::string& rules) {
  filter_registry registry;
  plugins::register_builtin_filters(registry);
  return parse_config_text(R"(
backends: [{ name: github, http: { url: "http://127.0.0.1:3311/mcp" } }]
routes: [{ path: /mcp, backend: github }]
filters:
  - rate_limit:
      store: local
      rules:
)" + rules,
                           "gateway.yaml", &registry);
}

struct fixture {
  config_result result;
  boost::asio::io_context ioc;
  logger log{log_level::error};
  std::unique_ptr<filter> built;
  rate_limit_filter* f = nullptr;
  time_point now = std::chrono::steady_clock::now();

  explicit fixture(const std::string& rules) : result(parse(rules)) {
    if (!result.config) {
      ADD_FAILURE() << result.errors.at(0).to_string();
      return;
    }
    built = result.config->filters.at(0).factory->create({ioc.get_executor(), log, *result.config});
    f = dynamic_cast<rate_limit_filter*>(built.get());
    f->set_clock([this] { return now; });
  }

  filter_status call(const std::string& tenant, const std::string& subject, std::string_view method,
                     std::string_view tool, std::string id, local_reply* reply = nullptr) {
    principal who;
    who.tenant = tenant;
    who.subject = subject;
    const std::string sid = "sid-" + subject;
    message_context ctx{who,    nullptr, "/mcp", "github", sid, jsonrpc::message_kind::request,
                        method, tool,    id,     "{}",     {},  {},
                        {}};
    filter_status s = f->check_call(ctx);
    if (reply) {
      *reply = ctx.reply;
    }
    return s;
  }
};

}  // namespace

TEST(TokenBucket, AllowsBurstThenRefillsAtTheRate) {
  bucket_set b({10, 1000ms, 3});
  time_point t0{};
  EXPECT_TRUE(b.take("k", t0).allowed);
  EXPECT_TRUE(b.take("k", t0).allowed);
  EXPECT_TRUE(b.take("k", t0).allowed);
  decision refused = b.take("k", t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, 100ms);
  EXPECT_FALSE(b.take("k", t0 + 99ms).allowed);
  EXPECT_TRUE(b.take("k", t0 + 200ms).allowed);
  EXPECT_TRUE(b.take("other", t0).allowed) << "keys have their own buckets";
}

TEST(TokenBucket, FullBucketsAreSweptWhenTheKeyBoundIsReached) {
  bucket_set b({1, 1000ms, 1}, 2);
  time_point t0{};
  b.take("a", t0);
  b.take("b", t0);
  b.take("c", t0 + 5000ms);
  EXPECT_EQ(b.size(), 1u) << "a and b had refilled";
}

TEST(RateLimit, RefusesTheCallOverTheTenantsLimitWithARetryHint) {
  fixture fx("        - { match: { tenant: acme, method: tools/call }, limit: 2, per: 1m }\n");
  ASSERT_NE(fx.f, nullptr);
  EXPECT_EQ(fx.call("acme", "a", "tools/call", "x", "1"), filter_status::next);
  EXPECT_EQ(fx.call("acme", "b", "tools/call", "y", "2"), filter_status::next);
  local_reply reply;
  EXPECT_EQ(fx.call("acme", "c", "tools/call", "z", "3", &reply), filter_status::stop);
  EXPECT_EQ(reply.status, 200u);
  EXPECT_EQ(reply.code, jsonrpc::rate_limited);
  EXPECT_EQ(reply.message,
            "rate limit rules[0] (2 tools/call per 1m per tenant) exceeded; retry after 30.0 s");
  EXPECT_EQ(fx.call("globex", "a", "tools/call", "x", "4"), filter_status::next)
      << "another tenant is not counted";
  EXPECT_EQ(fx.call("acme", "a", "tools/list", "", "5"), filter_status::next)
      << "another method is not counted";
  fx.now += 30s;
  EXPECT_EQ(fx.call("acme", "a", "tools/call", "x", "6"), filter_status::next);
}

TEST(RateLimit, CountsPerPrincipalForOneTool) {
  fixture fx(
      "        - { match: { tool: \"github__create_issue\" }, key: principal, limit: 1, per: 1m "
      "}\n");
  ASSERT_NE(fx.f, nullptr);
  EXPECT_EQ(fx.call("acme", "alice", "tools/call", "github__create_issue", "1"),
            filter_status::next);
  EXPECT_EQ(fx.call("acme", "alice", "tools/call", "github__create_issue", "2"),
            filter_status::stop);
  EXPECT_EQ(fx.call("acme", "bob", "tools/call", "github__create_issue", "3"), filter_status::next);
  EXPECT_EQ(fx.call("acme", "alice", "tools/call", "github__list_issues", "4"),
            filter_status::next);
}

TEST(RateLimit, ConcurrencyLimitHoldsASlotUntilTheCallCompletes) {
  fixture fx("        - { match: { backend: github }, key: backend, concurrency: 2 }\n");
  ASSERT_NE(fx.f, nullptr);
  EXPECT_EQ(fx.call("acme", "a", "tools/call", "x", "1"), filter_status::next);
  EXPECT_EQ(fx.call("acme", "b", "tools/call", "x", "2"), filter_status::next);
  local_reply reply;
  EXPECT_EQ(fx.call("acme", "c", "tools/call", "x", "3", &reply), filter_status::stop);
  EXPECT_NE(reply.message.find("concurrency limit rules[0] (2 calls in flight per backend)"),
            std::string::npos)
      << reply.message;
  EXPECT_EQ(fx.f->in_flight(0, "github"), 2u);
  request_record done;
  done.session_id = "sid-a";
  done.client_id = "1";
  fx.f->on_complete(done);
  fx.f->on_complete(done);  // a second completion of the same call releases nothing more
  EXPECT_EQ(fx.f->in_flight(0, "github"), 1u);
  EXPECT_EQ(fx.call("acme", "c", "tools/call", "x", "4"), filter_status::next);
}

TEST(RateLimit, HttpLevelRulesAnswer429WithRetryAfterAndRateLimitHeaders) {
  fixture fx("        - { match: { tenant: acme }, limit: 1, per: 10s }\n");
  ASSERT_NE(fx.f, nullptr);
  no_headers h;
  auto request = [&](std::string tenant) {
    http_context ctx{h,  "POST", "/mcp", "/mcp", "github", client_transport::streamable_http,
                     {}, {}};
    ctx.who.tenant = std::move(tenant);
    filter_status s = fx.f->check_http(ctx);
    return std::pair(s, ctx.reply);
  };
  EXPECT_EQ(request("acme").first, filter_status::next);
  auto [status, reply] = request("acme");
  EXPECT_EQ(status, filter_status::stop);
  EXPECT_EQ(reply.status, 429u);
  ASSERT_EQ(reply.headers.size(), 3u);
  EXPECT_EQ(reply.headers[0].name, "Retry-After");
  EXPECT_EQ(reply.headers[0].value, "10");
  EXPECT_EQ(reply.headers[1].value, "\"rules[0]\";q=1;w=10");
  EXPECT_EQ(reply.headers[2].value, "\"rules[0]\";r=0;t=10");
  EXPECT_EQ(request("globex").first, filter_status::next);
}

TEST(RateLimit, ConfigErrorsNameTheRule) {
  auto redis = parse("        - { match: { method: tools/call }, limit: 1, per: 1m }\n");
  ASSERT_TRUE(redis.config);
  auto bad = parse(
      "        - { match: { method: tools/call }, limit: 1 }\n"
      "        - { match: { verb: x }, concurrency: 1 }\n"
      "        - { key: everyone, concurrency: 1 }\n"
      "        - { match: { method: ping } }\n");
  ASSERT_FALSE(bad.config);
  std::string all;
  for (const auto& e : bad.errors) {
    all += e.to_string() + "\n";
  }
  EXPECT_NE(all.find("rules[0].per: missing; a rate needs both limit and per"), std::string::npos)
      << all;
  EXPECT_NE(all.find("rules[1].match.verb: unknown key"), std::string::npos) << all;
  EXPECT_NE(all.find("rules[2].key: expected one of tenant, principal"), std::string::npos) << all;
  EXPECT_NE(all.find("a rule needs limit and per (a rate), or concurrency"), std::string::npos)
      << all;
}

TEST(RateLimit, RedisStoreNeedsTheRedisSessionStore) {
  filter_registry registry;
  plugins::register_builtin_filters(registry);
  const std::string tail = R"(
backends: [{ name: github, http: { url: "http://127.0.0.1:3311/mcp" } }]
routes: [{ path: /mcp, backend: github }]
filters:
  - rate_limit:
      store: redis
      on_store_error: deny
      rules: [{ limit: 1, per: 1s }]
)";
  auto r = parse_config_text(tail, "gateway.yaml", &registry);
  ASSERT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1U);
  EXPECT_EQ(r.errors[0].line, 6);
  EXPECT_EQ(r.errors[0].key, "filters[0].rate_limit.store");
  EXPECT_NE(r.errors[0].message.find("but session_store is \"memory\""), std::string::npos)
      << r.errors[0].message;
  auto ok = parse_config_text(
      "session_store: { type: redis, url: \"redis://127.0.0.1:6379/0\" }\n" + tail, "gateway.yaml",
      &registry);
  ASSERT_TRUE(ok.config) << ok.errors.at(0).to_string();
}

TEST(RateLimit, OnStoreErrorMustBeLocalOrDeny) {
  auto r = parse_config_text(R"(
backends: [{ name: github, http: { url: "http://127.0.0.1:3311/mcp" } }]
routes: [{ path: /mcp, backend: github }]
session_store: { type: redis, url: "redis://127.0.0.1:6379/0" }
filters:
  - rate_limit: { store: redis, on_store_error: open, rules: [{ limit: 1, per: 1s }] }
)",
                             "gateway.yaml", [] {
                               static filter_registry registry;
                               plugins::register_builtin_filters(registry);
                               return &registry;
                             }());
  ASSERT_FALSE(r.config);
  EXPECT_NE(r.errors.at(0).message.find("expected local or deny, got \"open\""), std::string::npos)
      << r.errors.at(0).message;
}

// Several workers build a filter each from one factory: with the process's shared state they
// draw on one budget and one set of in-flight slots; filters built without it count apart.
TEST(RateLimit, WorkersFiltersShareRatesAndInFlightSlots) {
  fixture fx(
      "        - { match: { method: tools/call }, key: global, limit: 3, per: 1m }\n"
      "        - { match: { backend: github }, key: backend, concurrency: 2 }\n");
  ASSERT_NE(fx.f, nullptr);
  const auto& factory = *fx.result.config->filters.at(0).factory;
  filter_shared_state shared;
  auto first =
      factory.create({fx.ioc.get_executor(), fx.log, *fx.result.config, nullptr, nullptr, &shared});
  auto second =
      factory.create({fx.ioc.get_executor(), fx.log, *fx.result.config, nullptr, nullptr, &shared});
  auto* a = dynamic_cast<rate_limit_filter*>(first.get());
  auto* b = dynamic_cast<rate_limit_filter*>(second.get());
  ASSERT_TRUE(a && b);
  const auto call = [](rate_limit_filter& f, std::string subject, std::string id) {
    principal who;
    who.subject = subject;
    const std::string sid = "sid-" + subject;
    message_context ctx{
        who, nullptr, "/mcp", "github", sid, jsonrpc::message_kind::request, "tools/call", "x",
        id,  "{}",    {},     {},       {}};
    return f.check_call(ctx);
  };
  EXPECT_EQ(call(*a, "p", "1"), filter_status::next);
  EXPECT_EQ(call(*b, "q", "2"), filter_status::next);
  EXPECT_EQ(b->in_flight(1, "github"), 2u) << "one in-flight count for both";
  EXPECT_EQ(call(*b, "r", "3"), filter_status::stop) << "the in-flight limit holds for both";
  request_record done;
  done.session_id = "sid-p";
  done.client_id = "1";
  a->on_complete(done);  // released by the filter that took it
  EXPECT_EQ(b->in_flight(1, "github"), 1u);
  EXPECT_EQ(call(*b, "r", "4"), filter_status::next) << "the third of the three calls a minute";
  done.session_id = "sid-r";
  done.client_id = "4";
  b->on_complete(done);
  EXPECT_EQ(call(*a, "s", "5"), filter_status::stop) << "the rate holds for both";
  // The fixture's own filter was built without shared state: its budget is untouched.
  EXPECT_EQ(fx.call("", "t", "tools/call", "x", "6"), filter_status::next);
}
