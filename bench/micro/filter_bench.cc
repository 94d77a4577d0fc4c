// Micro-benchmarks of the filter chain and of the filters' per-call work: the chain's hooks
// with pass-through filters, the token bucket, an API key look-up, a credential cache hit, a
// tenant's list filtering and sealing an audit record. Run from the release build; ctest runs each
// once as a smoke test. Numbers are read, never asserted.
#include "audit/audit_chain.h"
#include "auth/api_keys.h"
#include "auth/credential_cache.h"
#include "auth/policy.h"
#include "filter/filter_chain.h"
#include "rate_limit/token_bucket.h"

#include "mcp/session.h"

#include <benchmark/benchmark.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <string>

namespace {

using namespace mcpgw;

class pass_through final : public filter {};

std::shared_ptr<const filter_chain> chain_of(int n) {
  std::vector<std::unique_ptr<filter>> filters;
  for (int i = 0; i < n; ++i) {
    filters.push_back(std::make_unique<pass_through>());
  }
  return std::make_shared<const filter_chain>(std::move(filters));
}

// A request, its answer and its completion through a session with `filters` pass-through
// filters (0: no chain at all), as the endpoint drives them, without sockets.
void BM_SessionRoundTrip(benchmark::State& state) {
  boost::asio::io_context ioc;
  limits_config limits;
  route_binding route{"/mcp", nullptr};
  auto s = std::make_shared<session>(ioc.get_executor(), "sid", route, limits);
  principal who;
  who.tenant = "acme";
  who.subject = "key:0123";
  auto chain = state.range(0) > 0 ? chain_of(static_cast<int>(state.range(0))) : nullptr;
  s->bind(who, chain);
  jsonrpc::decoder decoder;
  const std::string request =
      R"({"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}})";
  jsonrpc::envelope env = decoder.decode(request);
  for (auto _ : state) {
    if (chain) {
      request_record record;
      record.who = who;
      record.method = "tools/call";
      record.client_id = "42";
      s->stage_completion("42", completion_guard(chain, std::move(record)));
    }
    std::int64_t up = 0;
    std::string upstream = s->map_client_request(request, env, up);
    std::string answer = R"({"jsonrpc":"2.0","id":)" + std::to_string(up) +
                         R"(,"result":{"content":[{"type":"text","text":"hi"}]}})";
    auto mapped = s->map_backend_message(answer, decoder);
    benchmark::DoNotOptimize(mapped.body.data());
    s->forget_request(up);
  }
}
BENCHMARK(BM_SessionRoundTrip)->Arg(0)->Arg(3);

// The request hooks: one coroutine per filter per message.
void BM_ChainRequestHooks(benchmark::State& state) {
  boost::asio::io_context ioc;
  auto chain = chain_of(static_cast<int>(state.range(0)));
  principal who;
  for (auto _ : state) {
    message_context ctx{
        who, nullptr, "/mcp", "demo", "sid", jsonrpc::message_kind::request, "tools/call", "echo",
        "1", "{}",    {},     {},     {}};
    boost::asio::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
          filter_status s = co_await chain->run_request(ctx);
          benchmark::DoNotOptimize(s);
        },
        boost::asio::detached);
    ioc.restart();
    ioc.run();
  }
}
BENCHMARK(BM_ChainRequestHooks)->Arg(1)->Arg(3);

void BM_TokenBucketTake(benchmark::State& state) {
  plugins::rate_limit::bucket_set buckets({1e9, std::chrono::milliseconds(1000), 1e9});
  std::vector<std::string> keys;
  for (int i = 0; i < state.range(0); ++i) {
    keys.push_back("tenant-" + std::to_string(i));
  }
  auto now = std::chrono::steady_clock::now();
  std::size_t i = 0;
  for (auto _ : state) {
    auto d = buckets.take(keys[i++ % keys.size()], now);
    benchmark::DoNotOptimize(d.allowed);
  }
}
BENCHMARK(BM_TokenBucketTake)->Arg(1)->Arg(10000);

void BM_ApiKeyLookup(benchmark::State& state) {
  std::vector<tenant_config> tenants(1);
  tenants[0].name = "acme";
  for (int i = 0; i < state.range(0); ++i) {
    tenants[0].api_key_digests.push_back(plugins::sha256("key-" + std::to_string(i)));
  }
  plugins::api_key_store store(tenants);
  for (auto _ : state) {
    auto match = store.find("key-0");
    benchmark::DoNotOptimize(match);
  }
}
BENCHMARK(BM_ApiKeyLookup)->Arg(1)->Arg(100);

// What a repeated credential costs instead of the look-up above or a signature check (RS256
// about 15 us, ES256 about 50 us with `openssl speed`): a hit among `n` cached credentials.
void BM_CredentialCacheHit(benchmark::State& state) {
  auth::credential_cache cache({.max_entries = 100'000, .max_age = std::chrono::seconds(300)});
  principal who;
  who.via = principal::method::jwt;
  who.tenant = "acme";
  who.subject = "alice";
  who.scopes = {"read", "deploy"};
  const std::string prefix = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.";
  for (int i = 0; i < state.range(0); ++i) {
    cache.put(prefix + std::to_string(i) + std::string(300, 'x'), "/mcp", 0,
              auth::credential_cache::never, who);
  }
  const std::string presented = prefix + "0" + std::string(300, 'x');
  principal out;
  for (auto _ : state) {
    const principal* found = cache.find(presented, "/mcp", principal::method::jwt, 1);
    out = *found;  // the filter copies the principal into the request's context
    benchmark::DoNotOptimize(out.subject.data());
  }
}
BENCHMARK(BM_CredentialCacheHit)->Arg(1)->Arg(10000);

void BM_PolicyFilterToolsList(benchmark::State& state) {
  tenant_config t;
  t.name = "acme";
  t.deny.tools = {"*delete*"};
  plugins::tenant_policy policy(t);
  std::string body = R"({"jsonrpc":"2.0","id":1,"result":{"tools":[)";
  for (int i = 0; i < 50; ++i) {
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on literal + string here.
    body += i ? "," : "";
    body += R"({"name":"tool_)";
    body += std::to_string(i);
    body += i % 10 == 0 ? "_delete" : "";
    body += R"(","description":"does things","inputSchema":{"type":"object"}})";
  }
  body += "]}}";
  for (auto _ : state) {
    auto out = policy.filter_list("tools/list", body);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_PolicyFilterToolsList);

void BM_AuditSeal(benchmark::State& state) {
  plugins::audit::chain_state chain;
  const std::string fields =
      R"("time":"2026-11-21T05:10:02.417Z","tenant":"acme","principal":"key:9f2c","auth":"api_key",)"
      R"("session":"0123456789abcdef0123456789abcdef","route":"/mcp","backend":"github",)"
      R"("method":"tools/call","name":"create_issue","id":7,"outcome":"ok","latency_ms":12.4)";
  for (auto _ : state) {
    std::string line = plugins::audit::seal(chain, fields);
    benchmark::DoNotOptimize(line.data());
  }
}
BENCHMARK(BM_AuditSeal);

}  // namespace
