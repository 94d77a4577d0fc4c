#include "builtin.h"
#include "circuit_breaker/breaker.h"
#include "circuit_breaker/circuit_breaker_filter.h"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

using namespace mcpgw;
using namespace mcpgw::plugins::circuit_breaker;
using namespace std::chrono_literals;

TEST(Breaker, OpensAfterConsecutiveFailuresAndProbesAfterOpenFor) {
  breaker b({3, 0, 30000ms, 20, 10000ms, 1});
  time_point t{};
  b.on_failure(t);
  b.on_failure(t);
  b.on_success(t);
  b.on_failure(t);
  b.on_failure(t);
  EXPECT_EQ(b.state(t), breaker_state::closed) << "a success resets the count";
  b.on_failure(t);
  EXPECT_EQ(b.state(t), breaker_state::open);
  EXPECT_FALSE(b.allow(t + 9999ms));
  EXPECT_TRUE(b.allow(t + 10000ms)) << "half-open: one probe";
  EXPECT_FALSE(b.allow(t + 10000ms)) << "only one";
  b.on_success(t + 10100ms);
  EXPECT_EQ(b.state(t + 10100ms), breaker_state::closed);
  EXPECT_EQ(b.trips(), 1u);
}

TEST(Breaker, AFailedProbeOpensItAgain) {
  breaker b({1, 0, 30000ms, 20, 5000ms, 1});
  time_point t{};
  b.on_failure(t);
  ASSERT_TRUE(b.allow(t + 5000ms));
  b.on_failure(t + 5100ms);
  EXPECT_EQ(b.state(t + 5100ms), breaker_state::open);
  EXPECT_FALSE(b.allow(t + 10000ms));
  EXPECT_TRUE(b.allow(t + 10100ms));
}

TEST(Breaker, ANeutralProbeFreesItsSlot) {
  breaker b({1, 0, 30000ms, 20, 5000ms, 1});
  time_point t{};
  b.on_failure(t);
  ASSERT_TRUE(b.allow(t + 5000ms));
  b.on_neutral();
  EXPECT_TRUE(b.allow(t + 5000ms));
}

TEST(Breaker, TripsOnAFailureRatioOverTheWindow) {
  breaker b({0, 0.5, 10000ms, 4, 5000ms, 1});
  time_point t{};
  b.on_success(t);
  b.on_failure(t);
  b.on_success(t);
  EXPECT_EQ(b.state(t), breaker_state::closed) << "fewer than min_calls";
  b.on_failure(t);
  EXPECT_EQ(b.state(t), breaker_state::open) << "2 of 4";
  breaker old({0, 0.5, 10000ms, 4, 5000ms, 1});
  old.on_failure(t);
  old.on_failure(t);
  old.on_success(t + 20000ms);
  old.on_success(t + 20000ms);
  old.on_failure(t + 20000ms);
  EXPECT_EQ(old.state(t + 20000ms), breaker_state::closed) << "old failures left the window";
}

namespace {

struct fixture {
  config_result result;
  boost::asio::io_context ioc;
  logger log{log_level::error};
  std::unique_ptr<filter> built;
  circuit_breaker_filter* f = nullptr;
  time_point now{};
  principal who;
  int next_id = 0;

  fixture() {
    filter_registry registry;
    plugins::register_builtin_filters(registry);
    result = parse_config_text(R"(
backends: [{ name: github, http: { url: "http://127.0.0.1:3311/mcp" } }]
routes: [{ path: /mcp, backend: github }]
filters:
  - circuit_breaker: { consecutive_failures: 2, open_for: 30s, half_open_probes: 1 }
)",
                               "gateway.yaml", &registry);
    built = result.config->filters.at(0).factory->create({ioc.get_executor(), log, *result.config});
    f = dynamic_cast<circuit_breaker_filter*>(built.get());
    f->set_clock([this] { return now; });
  }

  // A call through the filter that ends as `outcome` (with `code`); false when refused.
  bool call(request_outcome outcome, int code = 0, local_reply* reply = nullptr,
            std::string_view replica = {}) {
    std::string id = std::to_string(next_id++);
    message_context ctx{
        who, nullptr, "/mcp", "github", "sid", jsonrpc::message_kind::request, "tools/call", "t",
        id,  "{}",    {},     replica,  {}};
    if (f->check(ctx) == filter_status::stop) {
      if (reply) {
        *reply = ctx.reply;
      }
      return false;
    }
    request_record r;
    r.session_id = "sid";
    r.client_id = id;
    r.backend = "github";
    r.replica = replica;
    r.outcome = outcome;
    r.error_code = code;
    f->on_complete(r);
    return true;
  }
};

}  // namespace

TEST(CircuitBreaker, BackendFailuresOpenItAndTheRefusalNamesTheBackendAndTheWait) {
  fixture fx;
  EXPECT_TRUE(fx.call(request_outcome::answered));
  EXPECT_TRUE(fx.call(request_outcome::error, jsonrpc::invalid_params)) << "a backend's own error";
  EXPECT_TRUE(fx.call(request_outcome::error, jsonrpc::backend_timeout));
  EXPECT_TRUE(fx.call(request_outcome::error, jsonrpc::backend_unavailable));
  EXPECT_EQ(fx.f->state_of("github"), breaker_state::open);
  local_reply reply;
  fx.now += 12s;
  EXPECT_FALSE(fx.call(request_outcome::answered, 0, &reply));
  EXPECT_EQ(reply.code, jsonrpc::backend_unavailable);
  EXPECT_EQ(reply.message,
            "backend 'github' is failing and the gateway stopped sending it calls (circuit open); "
            "it will be tried again in 18.0 s");
  fx.now += 18s;
  EXPECT_TRUE(fx.call(request_outcome::answered)) << "the probe";
  EXPECT_EQ(fx.f->state_of("github"), breaker_state::closed);
}

TEST(CircuitBreaker, ToolErrorsAndCancellationsDoNotCountAsFailures) {
  fixture fx;
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(fx.call(request_outcome::answered));  // isError results are answers
    EXPECT_TRUE(fx.call(request_outcome::cancelled));
    EXPECT_TRUE(fx.call(request_outcome::rejected, jsonrpc::rate_limited));
  }
  EXPECT_EQ(fx.f->state_of("github"), breaker_state::closed);
}

TEST(CircuitBreaker, EachBackendReplicaHasItsOwnBreaker) {
  fixture fx;
  const std::string_view dead = "http://10.0.0.2:3000/mcp";
  const std::string_view live = "http://10.0.0.1:3000/mcp";
  EXPECT_TRUE(fx.call(request_outcome::error, jsonrpc::backend_unavailable, nullptr, dead));
  EXPECT_TRUE(fx.call(request_outcome::error, jsonrpc::backend_unavailable, nullptr, dead));
  EXPECT_EQ(fx.f->state_of("github", dead), breaker_state::open);
  EXPECT_EQ(fx.f->state_of("github", live), breaker_state::closed);
  EXPECT_TRUE(fx.call(request_outcome::answered, 0, nullptr, live));
  local_reply reply;
  EXPECT_FALSE(fx.call(request_outcome::answered, 0, &reply, dead));
  EXPECT_NE(reply.message.find("backend 'github' (replica http://10.0.0.2:3000/mcp) is failing"),
            std::string::npos)
      << reply.message;
}
