#include "method_filter/method_filter.h"

#include "builtin.h"

#include "mcpgw/config.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

using namespace mcpgw;

namespace {

config_result parse(const std::string& filters) {
  filter_registry registry;
  plugins::register_builtin_filters(registry);
  return parse_config_text(R"(
backends: [{ name: demo, http: { url: "http://127.0.0.1:3311/mcp" } }]
routes: [{ path: /mcp, backend: demo }]
filters:
)" + filters,
                           "gateway.yaml", &registry);
}

}  // namespace

TEST(MethodFilter, RefusesMatchingRequestsAndNotificationsButNotResponses) {
  auto result =
      parse("  - method_filter: { deny: [\"resources/*\", \"notifications/roots/*\"] }\n");
  ASSERT_TRUE(result.config) << result.errors.front().to_string();
  boost::asio::io_context ioc;
  logger log(log_level::error);
  auto f = result.config->filters.at(0).factory->create({ioc.get_executor(), log, *result.config});
  auto& mf = dynamic_cast<plugins::method_filter&>(*f);
  principal who;
  auto run = [&](jsonrpc::message_kind kind, std::string_view method) {
    message_context ctx{who, nullptr, "/mcp", "demo", "sid", kind, method,
                        "",  "1",     "{}",   {},     {},    {}};
    filter_status out = filter_status::next;
    boost::asio::io_context io;
    boost::asio::co_spawn(io, mf.on_request(ctx), [&](std::exception_ptr e, filter_status s) {
      if (e) {
        std::rethrow_exception(e);
      }
      out = s;
    });
    io.run();
    return std::pair(out, ctx.reply);
  };
  auto [status, reply] = run(jsonrpc::message_kind::request, "resources/read");
  EXPECT_EQ(status, filter_status::stop);
  EXPECT_EQ(reply.code, jsonrpc::method_not_found);
  EXPECT_EQ(reply.message, "method is disabled on this gateway (resources/read)");
  EXPECT_EQ(run(jsonrpc::message_kind::notification, "notifications/roots/list_changed").first,
            filter_status::stop);
  EXPECT_EQ(run(jsonrpc::message_kind::request, "tools/list").first, filter_status::next);
  EXPECT_EQ(run(jsonrpc::message_kind::result, "resources/read").first, filter_status::next);
  EXPECT_EQ(mf.stats().refused, 2u);
}

TEST(MethodFilter, ConfigErrorsNameTheLineAndKey) {
  auto missing = parse("  - method_filter: { message: hi }\n");
  ASSERT_FALSE(missing.config);
  EXPECT_EQ(missing.errors.at(0).to_string(),
            "gateway.yaml:5: filters[0].method_filter.deny: missing; expected the methods to "
            "refuse, like [\"resources/*\"]");
  auto wrong = parse("  - method_filter: { deny: resources }\n");
  ASSERT_FALSE(wrong.config);
  EXPECT_EQ(wrong.errors.at(0).key, "filters[0].method_filter.deny");
  EXPECT_EQ(wrong.errors.at(0).line, 5);
}
