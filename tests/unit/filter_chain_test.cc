#include "filter/filter_chain.h"

#include "mcp/session.h"
#include "mcpgw/glob.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

using namespace mcpgw;

namespace {

// Records every hook call in a shared log; stops at the hooks it is told to.
class recording_filter final : public filter {
 public:
  recording_filter(std::string name, std::vector<std::string>& log)
      : name_(std::move(name)), log_(log) {}

  bool stop_http = false;
  bool stop_request = false;
  std::string rewrite_to;  // on_response replaces the body with this when set

  net::awaitable<filter_status> on_http(http_context& ctx) override {
    log_.push_back(name_ + ".http");
    if (stop_http) {
      ctx.reply.status = 401;
      ctx.reply.message = "no";
      co_return filter_status::stop;
    }
    ctx.who.tenant = name_;
    co_return filter_status::next;
  }
  net::awaitable<filter_status> on_request(message_context& ctx) override {
    log_.push_back(name_ + ".request " + std::string(ctx.method));
    if (stop_request) {
      ctx.reply.code = -32000;
      ctx.reply.message = "stopped by " + name_;
      co_return filter_status::stop;
    }
    co_return filter_status::next;
  }
  void on_response(response_context& ctx) override {
    log_.push_back(name_ + ".response " + std::string(ctx.method));
    if (!rewrite_to.empty()) {
      ctx.body = rewrite_to;
    }
  }
  void on_complete(const request_record& record) override {
    log_.push_back(name_ + ".complete " + record.method + " " +
                   std::string(to_string(record.outcome)) + " " +
                   std::to_string(record.error_code));
    records.push_back(record);
  }

  std::vector<request_record> records;

 private:
  std::string name_;
  std::vector<std::string>& log_;
};

// Decides at once (try_request); its asynchronous hook must never run.
class sync_filter final : public filter {
 public:
  sync_filter(std::string name, std::vector<std::string>& log, filter_status answer)
      : name_(std::move(name)), log_(log), answer_(answer) {}
  std::optional<filter_status> try_request(message_context&) override {
    log_.push_back(name_ + ".try");
    return answer_;
  }
  net::awaitable<filter_status> on_request(message_context&) override {
    log_.push_back(name_ + ".request (must not run)");
    co_return filter_status::next;
  }

 private:
  std::string name_;
  std::vector<std::string>& log_;
  filter_status answer_;
};

class no_headers final : public request_headers {
 public:
  std::string_view get(std::string_view) const override { return {}; }
};

struct chain_fixture {
  std::vector<std::string> log;
  recording_filter* a = nullptr;
  recording_filter* b = nullptr;
  recording_filter* c = nullptr;
  std::shared_ptr<const filter_chain> chain;

  chain_fixture() {
    std::vector<std::unique_ptr<filter>> filters;
    auto fa = std::make_unique<recording_filter>("a", log);
    auto fb = std::make_unique<recording_filter>("b", log);
    auto fc = std::make_unique<recording_filter>("c", log);
    a = fa.get();
    b = fb.get();
    c = fc.get();
    filters.push_back(std::move(fa));
    filters.push_back(std::move(fb));
    filters.push_back(std::move(fc));
    chain = std::make_shared<const filter_chain>(std::move(filters));
  }

  template <typename T>
  T run(net::awaitable<T> task) {
    boost::asio::io_context ioc;
    T out{};
    boost::asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e, T value) {
      if (e) {
        std::rethrow_exception(e);
      }
      out = value;
    });
    ioc.run();
    return out;
  }
};

struct session_fixture : chain_fixture {
  boost::asio::io_context ioc;
  limits_config limits;
  route_binding route{"/mcp", nullptr};
  jsonrpc::decoder decoder;
  std::shared_ptr<session> s;

  session_fixture() {
    s = std::make_shared<session>(ioc.get_executor(), "sid", route, limits);
    principal who;
    who.via = principal::method::api_key;
    who.tenant = "acme";
    who.subject = "key:0011";
    s->bind(who, chain);
  }

  // A request that passed the chain: its completion staged, then mapped as the endpoint does.
  std::int64_t send(const std::string& body) {
    jsonrpc::envelope env = decoder.decode(body);
    request_record record;
    record.method = env.method.str();
    record.client_id = env.id.in(body);
    record.started_steady = std::chrono::steady_clock::now();
    s->stage_completion(std::string(env.id.in(body)), completion_guard(chain, std::move(record)));
    std::int64_t up = -1;
    s->map_client_request(body, env, up);
    return up;
  }

  std::size_t completions() const {
    return static_cast<std::size_t>(
        std::count_if(log.begin(), log.end(),
                      [](const std::string& line) { return line.starts_with("a.complete"); }));
  }
};

}  // namespace

TEST(FilterChain, RunsHttpHooksInConfigOrderAndStopsAtTheFirstStop) {
  chain_fixture f;
  f.b->stop_http = true;
  no_headers headers;
  http_context ctx{headers, "POST", "/mcp", "/mcp", "demo", client_transport::streamable_http,
                   {},      {}};
  filter_status status = f.run(f.chain->run_http(ctx));
  EXPECT_EQ(status, filter_status::stop);
  EXPECT_EQ(f.log, (std::vector<std::string>{"a.http", "b.http"}));
  EXPECT_EQ(ctx.reply.status, 401u);
  EXPECT_EQ(ctx.who.tenant, "a") << "what earlier filters set stays";
}

TEST(FilterChain, RunsRequestHooksInOrderAndResponseAndCompletionHooksInReverse) {
  chain_fixture f;
  principal who;
  message_context ctx{
      who, nullptr, "/mcp", "demo", "sid", jsonrpc::message_kind::request, "tools/list", "",
      "1", "{}",    {},     {},     {}};
  EXPECT_EQ(f.run(f.chain->run_request(ctx)), filter_status::next);
  std::string body = "{}";
  response_context rctx{who,          "/mcp", "demo", "sid", jsonrpc::message_kind::result,
                        "tools/list", "",     body};
  f.chain->run_response(rctx);
  request_record record;
  record.method = "tools/list";
  f.chain->run_complete(record);
  EXPECT_EQ(f.log, (std::vector<std::string>{
                       "a.request tools/list", "b.request tools/list", "c.request tools/list",
                       "c.response tools/list", "b.response tools/list", "a.response tools/list",
                       "c.complete tools/list abandoned 0", "b.complete tools/list abandoned 0",
                       "a.complete tools/list abandoned 0"}));
}

TEST(FilterChain, AStoppedRequestKeepsTheStoppingFiltersReply) {
  chain_fixture f;
  f.a->stop_request = true;
  principal who;
  message_context ctx{
      who, nullptr, "/mcp", "demo", "sid", jsonrpc::message_kind::request, "tools/call", "x",
      "1", "{}",    {},     {},     {}};
  EXPECT_EQ(f.run(f.chain->run_request(ctx)), filter_status::stop);
  EXPECT_EQ(f.log, (std::vector<std::string>{"a.request tools/call"}));
  EXPECT_EQ(ctx.reply.message, "stopped by a");
  EXPECT_EQ(ctx.reply.status, 200u);
}

TEST(FilterCompletion, FiresOnceWithTheBackendsAnswer) {
  session_fixture f;
  std::int64_t up = f.send(R"({"jsonrpc":"2.0","id":7,"method":"tools/list"})");
  auto m = f.s->map_backend_message(
      R"({"jsonrpc":"2.0","id":)" + std::to_string(up) + R"(,"result":{"tools":[]}})", f.decoder);
  EXPECT_EQ(m.body, R"({"jsonrpc":"2.0","id":7,"result":{"tools":[]}})");
  EXPECT_EQ(f.completions(), 0u) << "not before the request leaves the books";
  f.s->forget_request(up);
  EXPECT_EQ(f.completions(), 1u);
  f.s->forget_request(up);
  f.s.reset();
  EXPECT_EQ(f.completions(), 1u) << "exactly once";
  ASSERT_EQ(f.a->records.size(), 1u);
  EXPECT_EQ(f.a->records[0].outcome, request_outcome::answered);
  EXPECT_EQ(f.a->records[0].client_id, "7");
}

TEST(FilterCompletion, RecordsTheBackendsErrorCodeAndMessage) {
  session_fixture f;
  std::int64_t up =
      f.send(R"({"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"t"}})");
  f.s->map_backend_message(R"({"jsonrpc":"2.0","id":)" + std::to_string(up) +
                               R"(,"error":{"code":-32602,"message":"Tool t not found"}})",
                           f.decoder);
  f.s->forget_request(up);
  ASSERT_EQ(f.a->records.size(), 1u);
  EXPECT_EQ(f.a->records[0].outcome, request_outcome::error);
  EXPECT_EQ(f.a->records[0].error_code, -32602);
  EXPECT_EQ(f.a->records[0].error_message, "Tool t not found");
}

TEST(FilterCompletion, ACancelledRequestStaysCancelledEvenIfAnAnswerFollows) {
  session_fixture f;
  std::int64_t up =
      f.send(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}})");
  f.s->abort_request(up);
  f.s->map_backend_message(R"({"jsonrpc":"2.0","id":)" + std::to_string(up) + R"(,"result":{}})",
                           f.decoder);
  f.s->forget_request(up);
  ASSERT_EQ(f.a->records.size(), 1u);
  EXPECT_EQ(f.a->records[0].outcome, request_outcome::cancelled);
}

TEST(FilterCompletion, ARequestInFlightWhenTheSessionEndsIsAbandonedOnce) {
  session_fixture f;
  f.send(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}})");
  f.send(R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
  f.s->close();
  EXPECT_EQ(f.completions(), 0u);
  f.s.reset();
  EXPECT_EQ(f.completions(), 2u);
  for (const auto& r : f.a->records) {
    EXPECT_EQ(r.outcome, request_outcome::abandoned);
  }
}

TEST(FilterCompletion, AGatewayErrorIsRecordedAndPassesTheResponseHooks) {
  session_fixture f;
  std::int64_t up =
      f.send(R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t"}})");
  std::string answer = f.s->failure_response(up, jsonrpc::backend_timeout, "too slow");
  EXPECT_EQ(answer, R"({"jsonrpc":"2.0","id":3,"error":{"code":-32051,"message":"too slow"}})");
  EXPECT_NE(std::find(f.log.begin(), f.log.end(), "a.response tools/call"), f.log.end());
  f.s->forget_request(up);
  ASSERT_EQ(f.a->records.size(), 1u);
  EXPECT_EQ(f.a->records[0].outcome, request_outcome::error);
  EXPECT_EQ(f.a->records[0].error_code, jsonrpc::backend_timeout);
}

TEST(FilterCompletion, ARequestNeverMappedFiresWhenUnstaged) {
  session_fixture f;
  request_record record;
  record.method = "initialize";
  f.s->stage_completion("9", completion_guard(f.chain, std::move(record)));
  f.s->unstage_completion("9", request_outcome::error, jsonrpc::backend_unavailable, "no process");
  EXPECT_EQ(f.completions(), 1u);
  f.s->unstage_completion("9", request_outcome::error);
  f.s.reset();
  EXPECT_EQ(f.completions(), 1u);
  EXPECT_EQ(f.a->records[0].error_message, "no process");
}

TEST(FilterResponses, AResponseHookRewritesWhatTheClientGets) {
  session_fixture f;
  f.c->rewrite_to = R"({"jsonrpc":"2.0","id":5,"result":{"tools":[]}})";
  std::int64_t up = f.send(R"({"jsonrpc":"2.0","id":5,"method":"tools/list"})");
  auto m = f.s->map_backend_message(
      R"({"jsonrpc":"2.0","id":)" + std::to_string(up) + R"(,"result":{"tools":[{"name":"x"}]}})",
      f.decoder);
  EXPECT_EQ(m.body, f.c->rewrite_to);
  EXPECT_EQ(m.completes, up);
}

TEST(FilterResponses, NotificationsAndServerRequestsCarryTheirOwnMethod) {
  session_fixture f;
  f.s->map_backend_message(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})",
                           f.decoder);
  f.s->map_backend_message(R"({"jsonrpc":"2.0","id":"b1","method":"sampling/createMessage"})",
                           f.decoder);
  EXPECT_NE(std::find(f.log.begin(), f.log.end(), "a.response notifications/tools/list_changed"),
            f.log.end());
  EXPECT_NE(std::find(f.log.begin(), f.log.end(), "a.response sampling/createMessage"),
            f.log.end());
}

TEST(Glob, MatchesStarsAndQuestionMarks) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything/at/all"));
  EXPECT_TRUE(glob_match("*delete*", "repo_delete_branch"));
  EXPECT_FALSE(glob_match("*delete*", "repo_create"));
  EXPECT_TRUE(glob_match("search_?", "search_1"));
  EXPECT_FALSE(glob_match("search_?", "search_12"));
  EXPECT_TRUE(glob_match("file:///docs/*", "file:///docs/a/b.md"));
  EXPECT_FALSE(glob_match("tools", "tools/list"));
  EXPECT_TRUE(glob_match("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab"));
  EXPECT_FALSE(glob_match("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
  EXPECT_TRUE(glob_match("a*", "a*"));
  EXPECT_FALSE(glob_match("", "x"));
}

TEST(FilterChain, HooksThatDecideAtOnceRunWithoutACoroutineAndTheRestGoesOnFromTheFirstThatWaits) {
  std::vector<std::string> log;
  std::vector<std::unique_ptr<filter>> filters;
  filters.push_back(std::make_unique<sync_filter>("s1", log, filter_status::next));
  filters.push_back(std::make_unique<recording_filter>("b", log));  // only the async hook
  filters.push_back(std::make_unique<sync_filter>("s3", log, filter_status::stop));
  filter_chain chain(std::move(filters));
  principal who;
  message_context ctx{
      who, nullptr, "/mcp", "demo", "sid", jsonrpc::message_kind::request, "tools/call", "x",
      "1", "{}",    {},     {},     {}};
  std::size_t next = 0;
  EXPECT_EQ(chain.try_request(ctx, next), std::nullopt);
  EXPECT_EQ(next, 1u) << "the filter that must wait";
  EXPECT_EQ(log, (std::vector<std::string>{"s1.try"}));
  chain_fixture runner;
  EXPECT_EQ(runner.run(chain.run_request(ctx, next)), filter_status::stop);
  EXPECT_EQ(log, (std::vector<std::string>{"s1.try", "b.request tools/call", "s3.try"}))
      << "s1 is not run twice; s3 answers at once inside the coroutine too";

  std::vector<std::string> log2;
  std::vector<std::unique_ptr<filter>> all_sync;
  all_sync.push_back(std::make_unique<sync_filter>("x", log2, filter_status::next));
  all_sync.push_back(std::make_unique<sync_filter>("y", log2, filter_status::next));
  filter_chain quick(std::move(all_sync));
  std::size_t at = 0;
  EXPECT_EQ(quick.try_request(ctx, at), filter_status::next);
  EXPECT_EQ(at, 2u);
  EXPECT_EQ(log2, (std::vector<std::string>{"x.try", "y.try"}));
  std::size_t stop_at = 0;
  std::vector<std::unique_ptr<filter>> stopping;
  stopping.push_back(std::make_unique<sync_filter>("z", log2, filter_status::stop));
  stopping.push_back(std::make_unique<sync_filter>("never", log2, filter_status::next));
  filter_chain stops(std::move(stopping));
  EXPECT_EQ(stops.try_request(ctx, stop_at), filter_status::stop);
  EXPECT_EQ(log2.back(), "z.try") << "nothing after the stop";
}

TEST(InlineText, HoldsUpToNBytesAndReadsAsAStringView) {
  mcpgw::inline_text<16> id;
  EXPECT_TRUE(id.empty());
  EXPECT_EQ(id.view(), "");
  id = "0123456789abcdef";
  EXPECT_EQ(id.size(), 16u);
  EXPECT_TRUE(id == "0123456789abcdef");
  const std::string_view seen = id;
  EXPECT_EQ(seen, "0123456789abcdef");
  id.assign("0123456789abcdef-and-more");
  EXPECT_EQ(id.view(), "0123456789abcdef") << "cut at N";
  mcpgw::inline_text<16> copy = id;
  id = "x";
  EXPECT_EQ(copy.view(), "0123456789abcdef") << "a copy holds its own bytes";
  EXPECT_EQ(id.view(), "x");
  id.assign(std::string_view());  // no data() at all: nothing is copied from it
  EXPECT_TRUE(id.empty());
}

namespace {

// Every field of a record set to something other than a new record's value.
request_record filled_record() {
  request_record r;
  r.who.via = principal::method::jwt;
  r.who.tenant = "tenant-with-a-long-name-" + std::string(40, 't');
  r.who.subject = "key:" + std::string(64, 'a');
  r.who.issuer = "https://issuer.example/" + std::string(20, 'i');
  r.who.scopes = {"tools:call", std::string(30, 's')};
  r.route = "/mcp-route-" + std::string(20, 'r');
  r.backend = "backend-" + std::string(20, 'b');
  r.replica = "http://127.0.0.1:9/mcp" + std::string(20, 'p');
  r.session_id = std::string(36, 'x');
  r.method = "tools/call-with-a-long-name";
  r.name = "a-tool-with-a-long-name-" + std::string(10, 'n');
  r.client_id = "\"client-id-" + std::string(10, 'c') + "\"";
  r.started = std::chrono::system_clock::now();
  r.started_steady = std::chrono::steady_clock::now();
  r.elapsed = std::chrono::milliseconds(5);
  r.backend_elapsed = std::chrono::milliseconds(3);
  r.request_id = "request-id";
  r.trace_id = std::string(32, 'f');
  r.parent_id = std::string(16, 'e');
  r.span_id = std::string(16, 'd');
  r.outcome = request_outcome::error;
  r.error_code = -32000;
  r.error_message = "an error message that is longer than fifteen bytes";
  r.tool_error = true;
  r.request_bytes = 10;
  r.response_bytes = 20;
  r.request_body = std::string(100, 'q');
  r.arguments = R"({"text":")" + std::string(40, 'a') + "\"}";
  r.arguments_sha256 = std::string(64, '0');
  r.arguments_kept = true;
  return r;
}

}  // namespace

TEST(RequestRecord, ResetGivesANewRecordAndKeepsTheBuffers) {
  // Tripwire: a field added to request_record must be set in filled_record() above (and
  // reset() keeps its buffer if it is a string). Then update this size.
  static_assert(sizeof(request_record) == 816, "request_record changed: see this test");
  request_record r = filled_record();
  for (const std::string* s : {&r.who.tenant, &r.who.subject, &r.who.issuer, &r.route, &r.backend,
                               &r.replica, &r.session_id, &r.method, &r.name, &r.client_id,
                               &r.error_message, &r.request_body, &r.arguments}) {
    EXPECT_GT(s->size(), 15u) << "a string filled_record() leaves in the object";
  }
  const char* session_buffer = r.session_id.data();
  const char* subject_buffer = r.who.subject.data();
  const char* arguments_buffer = r.arguments.data();
  r.reset();
  EXPECT_TRUE(r == request_record{});
  EXPECT_EQ(r.session_id.data(), session_buffer);
  EXPECT_EQ(r.who.subject.data(), subject_buffer);
  EXPECT_EQ(r.arguments.data(), arguments_buffer);
  EXPECT_FALSE(filled_record() == request_record{}) << "filled_record() fills nothing";
}

TEST(RequestRecord, AGuardsRecordComesBackResetForTheNextGuard) {
  std::thread([] {
    auto chain = std::make_shared<const filter_chain>(std::vector<std::unique_ptr<filter>>{});
    const request_record* first = nullptr;
    {
      completion_guard guard(chain, filled_record());
      first = guard.record();
      EXPECT_EQ(guard.record()->session_id, std::string(36, 'x'));
    }  // fires, and the record goes back
    EXPECT_EQ(record_pool::kept_now(), 1u);
    completion_guard next(chain);
    EXPECT_EQ(next.record(), first);
    EXPECT_TRUE(*next.record() == request_record{});
    EXPECT_EQ(record_pool::kept_now(), 0u);
  }).join();
}

TEST(RequestRecord, ThePoolKeepsABoundedNumberOfRecordsAndNoneHoldingLargeBuffers) {
  std::thread([] {
    auto chain = std::make_shared<const filter_chain>(std::vector<std::unique_ptr<filter>>{});
    {
      completion_guard big(chain);
      big.keep_body(std::string((std::size_t{64} << 10) + 1, 'b'));  // over 64 KiB
    }
    EXPECT_EQ(record_pool::kept_now(), 0u) << "a record with a body over 64 KiB is freed";
    {
      std::vector<completion_guard> guards;
      for (int i = 0; i < 300; ++i) {
        guards.emplace_back(chain);
      }
    }
    EXPECT_EQ(record_pool::kept_now(), 256u) << "the pool keeps at most 256 records a thread";
  }).join();
}
