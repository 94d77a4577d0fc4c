#include "audit/audit_chain.h"
#include "audit/audit_filter.h"
#include "audit/audit_log.h"
#include "audit/redact.h"
#include "auth/api_keys.h"
#include "builtin.h"

#include "mcpgw/jsonrpc.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <thread>
#include <unistd.h>

using namespace mcpgw;
using namespace mcpgw::plugins::audit;

namespace {

std::vector<std::string> sealed(int n) {
  chain_state state;
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) {
    lines.push_back(seal(state, "\"method\":\"tools/call\",\"n\":" + std::to_string(i)));
  }
  return lines;
}

verify_result check(const std::vector<std::string>& lines) {
  verifier v;
  for (const auto& line : lines) {
    if (!v.feed("audit.jsonl", line)) {
      break;
    }
  }
  return v.result();
}

struct temp_dir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("mcpgw-audit-" + std::to_string(::getpid()) + "-" +
                                std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  temp_dir() { std::filesystem::create_directories(path); }
  ~temp_dir() { std::filesystem::remove_all(path); }
};

std::vector<std::string> read_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

}  // namespace

TEST(AuditChain, SealedLinesVerify) {
  auto lines = sealed(5);
  EXPECT_TRUE(lines[0].starts_with("{\"seq\":0,\"method\":\"tools/call\",\"n\":0,\"prev\":\"" +
                                   std::string(64, '0') + "\",\"hash\":\""));
  auto r = check(lines);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.records, 5u);
}

TEST(AuditChain, SealingIntoOneBufferMakesTheSameLines) {
  chain_state state;
  std::string batch = "kept|";
  for (int i = 0; i < 3; ++i) {
    seal_into(batch, state, "\"method\":\"tools/call\",\"n\":" + std::to_string(i));
    batch += '\n';
  }
  std::string expected = "kept|";
  for (const auto& line : sealed(3)) {
    expected += line + "\n";
  }
  EXPECT_EQ(batch, expected);
  EXPECT_EQ(state.next_seq, 3u);
}

TEST(AuditChain, AnEditedLineIsNamed) {
  auto lines = sealed(5);
  lines[2].replace(lines[2].find("\"n\":2"), 5, "\"n\":9");
  auto r = check(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 3u);
  EXPECT_EQ(r.problem, "the record was changed: its hash does not match its content");
}

TEST(AuditChain, AnEditedLastLineIsCaughtToo) {
  auto lines = sealed(3);
  lines[2].replace(lines[2].find("tools/call"), 10, "tools/list");
  EXPECT_EQ(check(lines).line, 3u);
}

TEST(AuditChain, ADeletedLineBreaksTheNextOne) {
  auto lines = sealed(5);
  lines.erase(lines.begin() + 1);
  auto r = check(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 2u);
  EXPECT_NE(r.problem.find("expected record 1, found record 2"), std::string::npos) << r.problem;
}

TEST(AuditChain, AReorderedLineIsNamed) {
  auto lines = sealed(5);
  std::swap(lines[1], lines[3]);
  auto r = check(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 2u);
}

TEST(AuditChain, AForgedHashWithoutTheChainIsCaughtByTheNextPrev) {
  auto lines = sealed(4);
  // Rewrite line 2 and reseal it alone: its own hash holds, the next line's prev does not.
  chain_state state = *state_after(lines[0]);
  lines[1] = seal(state, "\"method\":\"tools/call\",\"n\":42");
  auto r = check(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, 3u);
}

TEST(AuditChain, AFileThatContinuesAnOlderOneIsAnchoredOnItsFirstLine) {
  auto lines = sealed(6);
  std::vector<std::string> second(lines.begin() + 3, lines.end());
  verifier v;
  for (const auto& line : second) {
    ASSERT_TRUE(v.feed("audit.jsonl", line)) << v.result().problem;
  }
  EXPECT_TRUE(v.anchored_mid_chain());
  auto genesis_deleted = sealed(3);
  genesis_deleted[0] = "{\"seq\":0,\"x\":1}";
  EXPECT_FALSE(check(genesis_deleted).ok);
}

TEST(AuditLog, WritesEveryRecordAndContinuesTheChainAfterARestart) {
  temp_dir dir;
  logger log(log_level::error);
  log_settings settings;
  settings.file = (dir.path / "audit.jsonl").string();
  {
    audit_log a(settings, log);
    for (int i = 0; i < 100; ++i) {
      a.push("\"n\":" + std::to_string(i));
    }
    a.flush();
    EXPECT_EQ(a.stats().written.load(), 100u);
    EXPECT_GE(a.stats().fsyncs.load(), 1u);
  }
  {
    audit_log b(settings, log);
    b.push("\"n\":100");
  }
  bool mid = false;
  auto r = verify_files({settings.file}, mid);
  EXPECT_TRUE(r.ok) << r.problem << " at " << r.line;
  EXPECT_EQ(r.records, 101u);
  EXPECT_FALSE(mid);
}

TEST(AuditLog, RotationBySizeKeepsTheChainAcrossFiles) {
  temp_dir dir;
  logger log(log_level::error);
  log_settings settings;
  settings.file = (dir.path / "audit.jsonl").string();
  settings.rotate_size = 2000;
  {
    audit_log a(settings, log);
    for (int i = 0; i < 60; ++i) {
      a.push("\"n\":" + std::to_string(i));
    }
  }
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) {
    if (e.path().filename() != "audit.jsonl") {
      files.push_back(e.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 3u) << "60 records of about 200 bytes, 2000 bytes per file";
  for (const auto& file : files) {
    // The writer seals a batch into one buffer; it still starts a new file at the size limit,
    // not after the batch: a file is over it by less than one record.
    EXPECT_LT(std::filesystem::file_size(file), 2000u + 250u) << file;
  }
  files.push_back(settings.file);
  bool mid = false;
  auto r = verify_files(files, mid);
  EXPECT_TRUE(r.ok) << r.file << ":" << r.line << ": " << r.problem;
  EXPECT_EQ(r.records, 60u);
  auto alone = verify_files({settings.file}, mid);
  EXPECT_TRUE(alone.ok);
  EXPECT_TRUE(mid) << "the newest file continues the rotated ones";
}

TEST(AuditLog, RefusesToContinueAFileWhoseLastRecordIsNotSealed) {
  temp_dir dir;
  logger log(log_level::error);
  log_settings settings;
  settings.file = (dir.path / "audit.jsonl").string();
  std::ofstream(settings.file) << "{\"not\":\"sealed\"}\n";
  EXPECT_THROW(audit_log(settings, log), std::runtime_error);
}

TEST(AuditRedact, SecretKeysPathsAndCredentialValuesAreRedacted) {
  redaction_rules rules;
  rules.paths = {"query", "items.*.note"};
  const std::string body =
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"query":"q","apiToken":"x","user":{"Password":"p","name":"n"},"items":[{"note":"a","v":1}],"auth":"Bearer abc","n":2}}})";
  auto out = audit_arguments(body, rules);
  EXPECT_EQ(
      out.redacted,
      R"({"query":"[redacted]","apiToken":"[redacted]","user":{"Password":"[redacted]","name":"n"},"items":[{"note":"[redacted]","v":1}],"auth":"[redacted]","n":2})");
  EXPECT_EQ(out.digest.size(), 64u);
  auto again = audit_arguments(body, rules);
  EXPECT_EQ(out.digest, again.digest);
  EXPECT_TRUE(audit_arguments(R"({"jsonrpc":"2.0","id":1,"method":"ping"})", rules).digest.empty());
  rules.max_bytes = 10;
  EXPECT_TRUE(audit_arguments(body, rules).redacted.starts_with("{\"truncated\":"));
}

TEST(AuditRedact, TheArgumentsAloneGiveWhatTheWholeMessageGives) {
  // The digest is of simdjson's minified arguments, before redaction, whether the text written
  // could stand for it (nothing redacted or escaped) or it had to be serialized again.
  const std::vector<std::string> cases = {
      R"({"text":"hello from wrk"})",
      R"( { "a" : [ 1 , 2.50 , 1e2 , -0 , 12345678901234567890 , true , null ] } )",
      R"({"quote":"a\"b","unicode":"\u0041\u00e9","raw":"caf)"
      "\xc3\xa9"
      R"(","nl":"x\ny","slash":"a\/b"})",
      R"({"k\u0065y":1,"password":"p","nested":{"auth":"Bearer abc","list":[{"note":"n"}]}})",
      R"("just a string")",
      R"([1,"two",{"three":3}])",
      R"(42)",
  };
  redaction_rules rules;
  rules.paths = {"nested.list.*.note"};
  simdjson::dom::parser parser;
  for (const auto& arguments : cases) {
    SCOPED_TRACE(arguments);
    const std::string message =
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":)" +
        arguments + "}}";
    const auto whole = audit_arguments(message, rules);
    const auto alone = audit_argument_value(arguments, rules);
    simdjson::dom::element value;
    ASSERT_EQ(parser.parse(simdjson::padded_string(arguments)).get(value), simdjson::SUCCESS);
    const std::string expected_digest =
        plugins::to_hex(plugins::sha256(simdjson::to_string(value)));
    EXPECT_EQ(whole.digest, expected_digest);
    EXPECT_EQ(alone.digest, expected_digest);
    EXPECT_EQ(alone.redacted, whole.redacted);
    EXPECT_FALSE(alone.redacted.empty());
  }
  EXPECT_TRUE(audit_argument_value("", rules).digest.empty());
  EXPECT_TRUE(audit_argument_value("{\"a\":", rules).digest.empty());
}

TEST(AuditRedact, JwtLookingValuesAreRedactedWhateverTheirKey) {
  EXPECT_TRUE(secret_looking_value("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2ln"));
  EXPECT_TRUE(secret_looking_value("-----BEGIN PRIVATE KEY-----\nabc"));
  EXPECT_FALSE(secret_looking_value("hello world"));
}

TEST(AuditFilter, OneRecordPerRequestWhetherPassedOrStoppedEarlier) {
  temp_dir dir;
  filter_registry registry;
  plugins::register_builtin_filters(registry);
  const std::string file = (dir.path / "audit.jsonl").string();
  auto result = parse_config_text(R"(
backends: [{ name: demo, http: { url: "http://127.0.0.1:3311/mcp" } }]
routes: [{ path: /mcp, backend: demo }]
filters:
  - audit: { file: )" + file + R"(, fsync: { every_records: 1 } }
)",
                                  "gateway.yaml", &registry);
  ASSERT_TRUE(result.config) << result.errors.at(0).to_string();
  boost::asio::io_context ioc;
  logger log(log_level::error);
  auto f = result.config->filters.at(0).factory->create({ioc.get_executor(), log, *result.config});
  auto& audit = dynamic_cast<audit_filter&>(*f);
  principal who;
  who.tenant = "acme";
  who.subject = "key:ab";
  request_record base;
  base.who = who;
  base.session_id = "sid";
  base.method = "tools/call";
  base.name = "echo";
  base.outcome = request_outcome::answered;
  request_record passed = base;
  passed.client_id = "7";
  passed.tool_error = true;
  request_record denied = base;  // stopped before the audit: it never saw the request
  denied.client_id = "8";
  denied.outcome = request_outcome::rejected;
  denied.error_code = jsonrpc::forbidden;
  denied.error_message = "no";
  request_record nine = base;
  nine.client_id = "9";
  // The audit keeps what it needs in each request's own record (message_context::record).
  std::string body =
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi","password":"p"}}})";
  message_context ctx{who,          nullptr, "/mcp", "demo", "sid", jsonrpc::message_kind::request,
                      "tools/call", "echo",  "7",    body,   {},    {},
                      {},           &passed};
  boost::asio::co_spawn(ioc, audit.on_request(ctx), [](std::exception_ptr, filter_status) {});
  ioc.run();
  EXPECT_TRUE(passed.arguments_kept);
  EXPECT_EQ(passed.arguments, R"({"text":"hi","password":"[redacted]"})");
  EXPECT_EQ(passed.arguments_sha256.size(), 64u);
  // As the gateway passes it: params.arguments found by its decoder (id 9, recorded below).
  const std::string body9 =
      R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"yo","token":"t"}}})";
  message_context ctx9{
      who,    nullptr, "/mcp", "demo", "sid", jsonrpc::message_kind::request, "tools/call",
      "echo", "9",     body9,  {},     {},    R"({"text":"yo","token":"t"})", &nine};
  ASSERT_EQ(audit.try_request(ctx9), filter_status::next);
  audit.on_complete(passed);
  audit.on_complete(denied);
  audit.on_complete(nine);
  audit.log().flush();
  auto lines = read_lines(file);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[2].find(R"("args":{"text":"yo","token":"[redacted]"})"), std::string::npos)
      << lines[2];
  EXPECT_NE(lines[2].find(R"("args_sha256":")"), std::string::npos) << lines[2];
  EXPECT_NE(lines[0].find(R"("outcome":"tool_error")"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(R"("args":{"text":"hi","password":"[redacted]"})"), std::string::npos)
      << lines[0];
  EXPECT_EQ(lines[0].find("\"p\""), std::string::npos);
  EXPECT_NE(lines[1].find(R"("id":8,"outcome":"denied","code":-32043)"), std::string::npos)
      << lines[1];
  EXPECT_EQ(lines[1].find("\"args"), std::string::npos) << "no body was kept, nothing noted";
  bool mid = false;
  EXPECT_TRUE(verify_files({file}, mid).ok);
}

TEST(AuditFilter, FormatsTimeLatencyAndNumbersExactly) {
  request_record r;
  r.who.tenant = "acme";
  r.who.subject = "key:ab";
  r.session_id = "sid";
  r.method = "tools/call";
  r.client_id = "\"a\"";
  r.outcome = request_outcome::error;
  r.error_code = -32603;
  r.error_message = "bad \"x\"";
  // 2026-11-21T13:24:39.007Z; the cached second must not leak into the next one.
  r.started = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795267479007));
  r.elapsed = std::chrono::microseconds(1234567);
  r.request_bytes = 146;
  r.response_bytes = 0;
  const std::string first = audit_filter::format(r, {}, {});
  EXPECT_TRUE(first.starts_with(R"("time":"2026-11-21T13:24:39.007Z","tenant":"acme")")) << first;
  EXPECT_NE(first.find(R"("id":"a","outcome":"error","code":-32603,"message":"bad \"x\"")"),
            std::string::npos)
      << first;
  EXPECT_NE(first.find(R"("latency_ms":1234.567000,"request_bytes":146,"response_bytes":0)"),
            std::string::npos)
      << first;
  r.started += std::chrono::milliseconds(1993);
  const std::string second = audit_filter::format(r, {}, {});
  EXPECT_TRUE(second.starts_with(R"("time":"2026-11-21T13:24:41.000Z")")) << second;
}

TEST(AuditFilter, FormatsRecordsOfEveryEscapeAndSizeWithinItsBuffer) {
  // The record is written into a buffer sized beforehand: every string fully escaped (six
  // bytes a byte), every optional field present, and arguments larger than the buffer has
  // been so far. ASan checks the writes stay inside.
  request_record r;
  const std::string controls(200, '\x01');
  r.who.tenant = controls;
  r.who.subject = controls;
  r.session_id = controls;
  r.route = controls;
  r.backend = controls;
  r.method = controls;
  r.name = controls;
  r.client_id = "123456789012345678";
  r.error_code = std::numeric_limits<int>::min();
  r.error_message = std::string(400, '"');
  r.request_id = std::string_view(controls).substr(0, 128);
  r.trace_id = std::string_view(controls).substr(0, 32);
  r.span_id = std::string_view(controls).substr(0, 16);
  r.parent_id = std::string_view(controls).substr(0, 16);
  r.elapsed = std::chrono::nanoseconds(5);
  r.request_bytes = std::numeric_limits<std::size_t>::max();
  r.response_bytes = std::numeric_limits<std::size_t>::max();
  const std::string escaped = jsonrpc::quote(controls);
  for (const std::size_t size : {std::size_t{10}, std::size_t{3} << 20, std::size_t{10}}) {
    const std::string arguments = "{\"a\":\"" + std::string(size, 'x') + "\"}";
    const std::string line = audit_filter::format(r, arguments, std::string(64, 'f'));
    EXPECT_NE(line.find(R"(,"tenant":)" + escaped + R"(,"principal":)" + escaped),
              std::string::npos);
    std::string message;
    for (int i = 0; i < 300; ++i) {
      message += "\\\"";
    }
    EXPECT_NE(line.find(R"(,"code":-2147483648,"message":")" + message + "\","), std::string::npos)
        << "the message is cut to 300 bytes before it is escaped";
    EXPECT_NE(line.find(R"("latency_ms":0.000005,"request_bytes":18446744073709551615,)"
                        R"("response_bytes":18446744073709551615,"args_sha256":")"),
              std::string::npos);
    EXPECT_TRUE(line.ends_with(R"(","args":)" + arguments)) << line.substr(0, 200);
  }
}

namespace {

// An audit log whose file is a pipe the test reads, filled before the log opens it: the
// writer thread's first write blocks, and the queue fills and stays full, as behind a stalled
// disk, until the test reads the pipe.
struct stalled_audit {
  int pipe_fds[2] = {-1, -1};
  boost::asio::io_context ioc;
  logger log{log_level::error};
  std::unique_ptr<filter> f;
  std::thread drainer;

  explicit stalled_audit(const std::string& options) {
    if (::pipe(pipe_fds) != 0) {
      throw std::runtime_error("pipe");
    }
    ::fcntl(pipe_fds[1], F_SETPIPE_SZ, 4096);
    // Full through this end (non-blocking here only: the log opens a blocking one of its own).
    ::fcntl(pipe_fds[1], F_SETFL, O_NONBLOCK);
    const std::string filler(4096, 'x');
    while (::write(pipe_fds[1], filler.data(), filler.size()) > 0) {
    }
    filter_registry registry;
    plugins::register_builtin_filters(registry);
    auto result = parse_config_text(R"(
backends: [{ name: demo, http: { url: "http://127.0.0.1:3311/mcp" } }]
routes: [{ path: /mcp, backend: demo }]
filters:
  - audit: { file: /proc/self/fd/)" + std::to_string(pipe_fds[1]) +
                                        ", " + options + " }\n",
                                    "gateway.yaml", &registry);
    if (!result.config) {
      throw std::runtime_error(result.errors.at(0).to_string());
    }
    f = result.config->filters.at(0).factory->create({ioc.get_executor(), log, *result.config});
    ::close(pipe_fds[1]);  // the log holds its own write end
  }
  audit_filter& audit() { return dynamic_cast<audit_filter&>(*f); }

  // Notifications are recorded at once: pushed until the queue has no room, which lasts (the
  // writer cannot finish a write). Bounded.
  bool fill() {
    principal who;
    for (int i = 0; i < 1000 && audit().log().has_room(); ++i) {
      message_context ctx{who,
                          nullptr,
                          "/mcp",
                          "demo",
                          "sid",
                          jsonrpc::message_kind::notification,
                          "notifications/progress",
                          "",
                          "",
                          R"({"jsonrpc":"2.0","method":"notifications/progress"})",
                          {},
                          {},
                          {}};
      audit().try_request(ctx);
    }
    return !audit().log().has_room();
  }
  // Reads the pipe until the log closes it, from now on.
  void drain() {
    drainer = std::thread([fd = pipe_fds[0]] {
      char buffer[4096];
      while (::read(fd, buffer, sizeof buffer) > 0) {
      }
    });
  }
  ~stalled_audit() {
    if (!drainer.joinable()) {
      drain();  // the writer must not stay blocked when the log stops
    }
    f.reset();
    drainer.join();
    ::close(pipe_fds[0]);
  }
};

}  // namespace

TEST(AuditFilter, AFullQueueRefusesWith503WhenOnFullIsReject) {
  stalled_audit a("queue: 2, on_full: reject");
  ASSERT_TRUE(a.fill()) << "the queue never stayed full";
  principal who;
  const std::string body = R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})";
  message_context ctx{
      who, nullptr, "/mcp", "demo", "sid", jsonrpc::message_kind::request, "tools/list", "",
      "1", body,    {},     {},     {}};
  const auto rejected = a.audit().stats().rejected;
  EXPECT_EQ(a.audit().try_request(ctx), filter_status::stop);
  EXPECT_EQ(ctx.reply.status, 503u);
  EXPECT_NE(ctx.reply.message.find("audit.queue = 2"), std::string::npos) << ctx.reply.message;
  ASSERT_EQ(ctx.reply.headers.size(), 1u);
  EXPECT_EQ(ctx.reply.headers[0].name, "Retry-After");
  EXPECT_EQ(a.audit().stats().rejected, rejected + 1);
  EXPECT_EQ(a.audit().stats().waited, 0u);
}

TEST(AuditFilter, AFullQueueMakesARequestWaitThenRefusesOrRecordsIt) {
  stalled_audit a("queue: 2, on_full: wait, max_wait: 200ms");
  principal who;
  const std::string body = R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})";
  message_context ctx{
      who, nullptr, "/mcp", "demo", "sid", jsonrpc::message_kind::request, "tools/list", "",
      "1", body,    {},     {},     {}};
  // Full, and nobody reads: the request waits max_wait, then is refused.
  ASSERT_TRUE(a.fill()) << "the queue never stayed full";
  EXPECT_FALSE(a.audit().try_request(ctx).has_value()) << "left to on_request, which waits";
  filter_status waited = filter_status::next;
  const auto started = std::chrono::steady_clock::now();
  boost::asio::co_spawn(a.ioc, a.audit().on_request(ctx),
                        [&](std::exception_ptr, filter_status s) { waited = s; });
  a.ioc.run();
  EXPECT_EQ(waited, filter_status::stop);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(200));
  EXPECT_EQ(ctx.reply.status, 503u);
  EXPECT_EQ(a.audit().stats().waited, 1u);
  EXPECT_EQ(a.audit().stats().rejected, 1u);
  // Still full, and the pipe is read while the next request waits: it passes.
  message_context again{
      who, nullptr, "/mcp", "demo", "sid", jsonrpc::message_kind::request, "tools/list", "",
      "2", body,    {},     {},     {}};
  EXPECT_FALSE(a.audit().try_request(again).has_value());
  filter_status passed = filter_status::stop;
  boost::asio::co_spawn(a.ioc, a.audit().on_request(again),
                        [&](std::exception_ptr, filter_status s) { passed = s; });
  // The pipe is read only once the request is waiting: 10 ms into the run.
  boost::asio::steady_timer later(a.ioc);
  later.expires_after(std::chrono::milliseconds(10));
  later.async_wait([&](boost::system::error_code) { a.drain(); });
  a.ioc.restart();
  a.ioc.run();
  EXPECT_EQ(passed, filter_status::next);
  EXPECT_EQ(a.audit().stats().waited, 2u);
  EXPECT_EQ(a.audit().stats().rejected, 1u);
}
