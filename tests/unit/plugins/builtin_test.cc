// Every built-in filter decides at once when it needs no I/O: the chain asks try_http and
// try_request first and starts a coroutine (a heap frame and a resume per filter and message)
// only for a filter that answers "wait". A filter that forgot to say so costs every request.
#include "builtin.h"

#include "filter/filter_chain.h"

#include "mcpgw/config.h"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <unistd.h>

using namespace mcpgw;

namespace {

class no_headers final : public request_headers {
 public:
  std::string_view get(std::string_view name) const override {
    return name == "authorization" ? "Bearer builtin-test-key" : std::string_view();
  }
};

}  // namespace

TEST(BuiltinFilters, EveryOneDecidesAtOnceWithoutIo) {
  filter_registry registry;
  plugins::register_builtin_filters(registry);
  const std::string audit_file = (std::filesystem::temp_directory_path() /
                                  ("mcpgw-builtin-" + std::to_string(::getpid()) + ".jsonl"))
                                     .string();
  // The API key's SHA-256: printf %s builtin-test-key | sha256sum.
  auto result = parse_config_text(R"(
backends: [{ name: demo, http: { url: "http://127.0.0.1:3311/mcp" } }]
routes: [{ path: /mcp, backend: demo }]
tenants:
  - name: acme
    api_keys: ["sha256:5c21151205277204f7e33f816c2682010dfed1a5a722a3136a521ccb5fed738f"]
filters:
  - auth: {}
  - method_filter: { deny: ["logging/*"] }
  - rate_limit:
      store: local
      rules:
        - { match: { method: tools/call }, key: tenant, limit: 1000, per: 1s }
  - circuit_breaker: { consecutive_failures: 5, open_for: 30s, half_open_probes: 1 }
  - audit: { file: )" + audit_file + R"( }
)",
                                  "gateway.yaml", &registry);
  ASSERT_TRUE(result.config) << result.errors.at(0).to_string();
  boost::asio::io_context ioc;
  logger log(log_level::error);
  auto chain = filter_chain::build({ioc.get_executor(), log, *result.config});
  ASSERT_EQ(result.config->filters.size(), 5u);

  no_headers headers;
  http_context http{headers, "POST", "/mcp", "/mcp", "demo", client_transport::streamable_http,
                    {},      {}};
  std::size_t next = 0;
  const auto decided_http = chain->try_http(http, next);
  ASSERT_TRUE(decided_http.has_value()) << "filter " << next << " wanted its coroutine";
  EXPECT_EQ(*decided_http, filter_status::next) << http.reply.message;
  EXPECT_EQ(http.who.tenant, "acme");
  principal who;
  who.via = principal::method::api_key;
  who.tenant = "acme";
  who.subject = "key:test";
  const std::string body =
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}})";
  request_record record;
  message_context ctx{who,          nullptr, "/mcp", "demo", "sid", jsonrpc::message_kind::request,
                      "tools/call", "echo",  "1",    body,   {},    {},
                      "{}",         &record};
  next = 0;
  const auto decided = chain->try_request(ctx, next);
  ASSERT_TRUE(decided.has_value()) << "filter " << next << " wanted its coroutine";
  EXPECT_EQ(*decided, filter_status::next) << ctx.reply.message;
  chain->run_complete(record);
  chain.reset();
  std::filesystem::remove(audit_file);
}
