#include "mcpgw/metrics.h"

#include "mcpgw/filter.h"

#include <gtest/gtest.h>

#include <string>

using namespace mcpgw;

namespace {

request_record call(std::string tool, request_outcome outcome, bool tool_error = false) {
  request_record r;
  r.who.tenant = "acme";
  r.route = "/mcp";
  r.backend = "conf";
  r.method = "tools/call";
  r.name = std::move(tool);
  r.outcome = outcome;
  r.tool_error = tool_error;
  r.elapsed = std::chrono::milliseconds(3);
  r.backend_elapsed = std::chrono::milliseconds(2);
  return r;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST(Metrics, CountsRequestsAndToolCallsByOutcome) {
  metrics m;
  m.declare_tools(
      "conf", R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"add"}]}})");
  m.record(call("echo", request_outcome::answered));
  m.record(call("echo", request_outcome::answered));
  m.record(call("echo", request_outcome::answered, true));
  m.record(call("secret-undeclared", request_outcome::error));
  std::string text = m.scrape();
  EXPECT_TRUE(has_line(
      text,
      R"(mcpgw_tool_calls_total{backend="conf",outcome="answered",tenant="acme",tool="echo"} 2)"))
      << text;
  EXPECT_TRUE(has_line(
      text,
      R"(mcpgw_tool_calls_total{backend="conf",outcome="tool_error",tenant="acme",tool="echo"} 1)"));
  EXPECT_TRUE(has_line(
      text,
      R"(mcpgw_tool_calls_total{backend="conf",outcome="error",tenant="acme",tool="other"} 1)"));
  EXPECT_EQ(text.find("secret-undeclared"), std::string::npos);
  EXPECT_TRUE(has_line(
      text,
      R"(mcpgw_requests_total{backend="conf",method="tools/call",outcome="answered",route="/mcp"} 2)"));
}

TEST(Metrics, SplitsDurationIntoBackendAndGatewayTime) {
  metrics m;
  m.record(call("echo", request_outcome::answered));
  request_record rejected = call("echo", request_outcome::rejected);
  rejected.backend_elapsed = {};
  m.record(rejected);
  std::string text = m.scrape();
  const std::string labels = R"({backend="conf",method="tools/call",route="/mcp"})";
  EXPECT_TRUE(has_line(text, "mcpgw_request_duration_seconds_count" + labels + " 2")) << text;
  EXPECT_TRUE(has_line(text, "mcpgw_backend_duration_seconds_count" + labels + " 1"));
  EXPECT_TRUE(has_line(text, "mcpgw_backend_duration_seconds_sum" + labels + " 0.002"));
  // 1 ms of its own for the forwarded call, 3 ms for the rejected one.
  EXPECT_TRUE(has_line(text, "mcpgw_gateway_duration_seconds_sum" + labels + " 0.004"));
}

TEST(Metrics, UnknownMethodsAreOther) {
  EXPECT_EQ(metrics::method_label("tools/call"), "tools/call");
  EXPECT_EQ(metrics::method_label("x/made-up"), "other");
  metrics m;
  request_record r;
  r.route = "/mcp";
  r.backend = "conf";
  r.method = "x/made-up";
  r.outcome = request_outcome::error;
  m.record(r);
  EXPECT_NE(m.scrape().find(R"(method="other")"), std::string::npos);
}

TEST(Metrics, DeclaredToolsAreBounded) {
  metrics m;
  std::string body = R"({"jsonrpc":"2.0","id":1,"result":{"tools":[)";
  for (std::size_t i = 0; i < metrics::max_declared_tools + 50; ++i) {
    body += (i ? "," : "") + std::string(R"({"name":"t)") + std::to_string(i) + R"("})";
  }
  body += "]}}";
  m.declare_tools("conf", body);
  EXPECT_TRUE(m.tool_declared("conf", "t0"));
  EXPECT_TRUE(m.tool_declared("conf", "t" + std::to_string(metrics::max_declared_tools - 1)));
  EXPECT_FALSE(m.tool_declared("conf", "t" + std::to_string(metrics::max_declared_tools)));
  EXPECT_FALSE(m.tool_declared("other-backend", "t0"));
}

TEST(Metrics, AnAnswerThatIsNotAToolListDeclaresNothing) {
  metrics m;
  m.declare_tools("conf", "not json");
  m.declare_tools("conf", R"({"jsonrpc":"2.0","id":1,"result":{"tools":"x"}})");
  m.declare_tools("conf", R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"title":"no name"}]}})");
  EXPECT_FALSE(m.tool_declared("conf", "x"));
}

TEST(Metrics, ScrapeHooksRunBeforeEachScrape) {
  metrics m;
  int runs = 0;
  auto& gauge = m.sessions_active.Add({{"route", "/mcp"}});
  m.on_scrape([&] { gauge.Set(++runs); });
  EXPECT_TRUE(has_line(m.scrape(), R"(mcpgw_sessions_active{route="/mcp"} 1)"));
  EXPECT_TRUE(has_line(m.scrape(), R"(mcpgw_sessions_active{route="/mcp"} 2)"));
}

TEST(Metrics, RequestsAreCountedLocallyAndFoldedOnceAtEachScrape) {
  metrics m;
  request_record r = call("echo", request_outcome::answered);
  r.elapsed = std::chrono::milliseconds(1);  // exactly a bound: counted in le="0.001"
  r.backend_elapsed = std::chrono::microseconds(400);
  m.record(r);
  const std::string labels = R"(backend="conf",method="tools/call",route="/mcp")";
  std::string text = m.scrape();
  EXPECT_TRUE(
      has_line(text, "mcpgw_request_duration_seconds_bucket{" + labels + R"(,le="0.0005"} 0)"))
      << text;
  EXPECT_TRUE(
      has_line(text, "mcpgw_request_duration_seconds_bucket{" + labels + R"(,le="0.001"} 1)"));
  EXPECT_TRUE(has_line(text, "mcpgw_request_duration_seconds_sum{" + labels + "} 0.001"));
  // A second scrape with nothing new shows the same numbers: what was folded is not folded again.
  text = m.scrape();
  EXPECT_TRUE(has_line(text, "mcpgw_request_duration_seconds_count{" + labels + "} 1")) << text;
  EXPECT_TRUE(has_line(
      text,
      R"(mcpgw_requests_total{backend="conf",method="tools/call",outcome="answered",route="/mcp"} 1)"));
  // Then more: added to what was there.
  r.elapsed = std::chrono::seconds(100);  // past every bound: the +Inf bucket only
  m.record(r);
  m.record(r);
  text = m.scrape();
  EXPECT_TRUE(has_line(text, "mcpgw_request_duration_seconds_count{" + labels + "} 3")) << text;
  EXPECT_TRUE(has_line(text, "mcpgw_request_duration_seconds_bucket{" + labels + R"(,le="60"} 1)"));
  EXPECT_TRUE(
      has_line(text, "mcpgw_request_duration_seconds_bucket{" + labels + R"(,le="+Inf"} 3)"));
  EXPECT_TRUE(has_line(
      text,
      R"(mcpgw_requests_total{backend="conf",method="tools/call",outcome="answered",route="/mcp"} 3)"));
  EXPECT_TRUE(has_line(
      text,
      R"(mcpgw_tool_calls_total{backend="conf",outcome="answered",tenant="acme",tool="other"} 3)"));
}

// Several workers: each counts into its own metrics object over one registry; a scrape runs
// each worker's hooks (prepare_scrape) and merges the gauges they set.
TEST(Metrics, WorkersShareFamiliesAndTheirCountsAddUp) {
  metrics first;
  metrics second(first);
  first.record(call("echo", request_outcome::answered));
  second.record(call("echo", request_outcome::answered));
  second.record(call("echo", request_outcome::answered));
  first.prepare_scrape();
  second.prepare_scrape();
  metrics* const all[] = {&first, &second};
  const std::string text = first.collect(all);
  EXPECT_TRUE(has_line(
      text,
      R"(mcpgw_requests_total{backend="conf",method="tools/call",outcome="answered",route="/mcp"} 3)"))
      << text;
  EXPECT_EQ(text.find("# TYPE mcpgw_requests_total counter"),
            text.rfind("# TYPE mcpgw_requests_total counter"))
      << "one family, not one per worker";
}

TEST(Metrics, WorkersGaugesMergeBySumMaxOrMin) {
  metrics first;
  metrics second(first);
  auto& sessions = first.sessions_active.Add({{"route", "/mcp"}});
  auto& state = first.circuit_state.Add({{"backend", "b"}, {"replica", ""}});
  auto& up = first.replica_up.Add({{"backend", "b"}, {"replica", "u"}});
  double sessions_seen[] = {3, 4};
  double state_seen[] = {0, 2};
  double up_seen[] = {1, 0};
  metrics* const all[] = {&first, &second};
  for (std::size_t i = 0; i < 2; ++i) {
    metrics& m = *all[i];
    m.on_scrape([&m, &sessions, &state, &up, i, &sessions_seen, &state_seen, &up_seen] {
      m.set_gauge(sessions, sessions_seen[i]);
      m.set_gauge(state, state_seen[i], metrics::gauge_merge::max);
      m.set_gauge(up, up_seen[i], metrics::gauge_merge::min);
    });
  }
  first.prepare_scrape();
  second.prepare_scrape();
  std::string text = first.collect(all);
  EXPECT_TRUE(has_line(text, R"(mcpgw_sessions_active{route="/mcp"} 7)")) << text;
  EXPECT_TRUE(has_line(text, R"(mcpgw_circuit_state{backend="b",replica=""} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(mcpgw_backend_replica_up{backend="b",replica="u"} 0)")) << text;
  // The next scrape sets them again from what the workers see then, not on top.
  sessions_seen[0] = 1;
  sessions_seen[1] = 0;
  state_seen[1] = 0;
  up_seen[1] = 1;
  first.prepare_scrape();
  second.prepare_scrape();
  text = first.collect(all);
  EXPECT_TRUE(has_line(text, R"(mcpgw_sessions_active{route="/mcp"} 1)")) << text;
  EXPECT_TRUE(has_line(text, R"(mcpgw_circuit_state{backend="b",replica=""} 0)")) << text;
  EXPECT_TRUE(has_line(text, R"(mcpgw_backend_replica_up{backend="b",replica="u"} 1)")) << text;
}

TEST(Metrics, OneWorkersGaugeIsSetAtOnce) {
  metrics m;
  auto& sessions = m.sessions_active.Add({{"route", "/mcp"}});
  m.on_scrape([&] { m.set_gauge(sessions, 5); });
  EXPECT_TRUE(has_line(m.scrape(), R"(mcpgw_sessions_active{route="/mcp"} 5)"));
}

TEST(Metrics, AToolAnotherWorkerSawListedIsCountedByName) {
  metrics first;
  metrics second(first);
  first.declare_tools("conf", R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"}]}})");
  EXPECT_TRUE(second.tool_declared("conf", "echo"));
  second.record(call("echo", request_outcome::answered));
  first.prepare_scrape();
  second.prepare_scrape();
  metrics* const all[] = {&first, &second};
  EXPECT_TRUE(has_line(
      first.collect(all),
      R"(mcpgw_tool_calls_total{backend="conf",outcome="answered",tenant="acme",tool="echo"} 1)"));
}
