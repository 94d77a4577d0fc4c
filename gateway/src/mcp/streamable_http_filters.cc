// The filter chain at the MCP endpoint: the HTTP hooks every request on a route passes
// (authentication), the request hooks every client message passes, and the answers to what a
// filter stopped. Shared by every transport (streamable_http*.cc, legacy_sse.cc).
#include "mcp/endpoint_detail.h"
#include "mcp/streamable_http.h"

namespace mcpgw {

using namespace endpoint_detail;

std::shared_ptr<session> streamable_http_endpoint::new_session(const route_binding& route,
                                                               const principal& who,
                                                               std::string id) {
  const bool fresh = id.empty();
  auto s = std::make_shared<session>(ex_, fresh ? mint_session_id() : std::move(id), route,
                                     config_.limits);
  // A new session picks its backend replica; one taken up from the store has its own.
  if (fresh && route.group != nullptr && !route.uses_channel()) {
    s->pin_replica(route.group->replicas().pick(who.tenant));
  }
  s->bind(who, chain_, &tracing_);
  return s;
}

net::awaitable<bool> streamable_http_endpoint::admit(client_request& req, responder& res,
                                                     const route_binding& route,
                                                     client_transport transport, principal& who) {
  if (!chain_) {
    co_return true;
  }
  beast_headers headers(req);
  http_context ctx{
      headers, req.method_string(), req.target(), route.path, route.backend_name(), transport, {},
      {}};
  std::size_t waiting = 0;
  std::optional<filter_status> now = chain_->try_http(ctx, waiting);
  filter_status status = filter_status::next;
  if (now) {
    status = *now;
  } else {
    status = co_await chain_->run_http(ctx, waiting);
  }
  if (status == filter_status::next) {
    who = std::move(ctx.who);
    co_return true;
  }
  complete_refused(req, route, ctx);
  std::vector<std::pair<std::string_view, std::string_view>> extra;
  for (const auto& h : ctx.reply.headers) {
    extra.emplace_back(h.name, h.value);
  }
  co_await send_error(res, ctx.reply.status == 200 ? 403 : ctx.reply.status, ctx.reply.code,
                      ctx.reply.message, {}, extra);
  co_return false;
}

void streamable_http_endpoint::complete_refused(const client_request& req,
                                                const route_binding& route,
                                                const http_context& ctx) {
  if (req.method() != http::verb::post || req.body().empty()) {
    return;  // a GET or DELETE carries no call
  }
  // The calls of a refused POST never reach a session, but the completion hooks (the audit
  // log) still learn of each one: who tried what, and why it was refused.
  const std::string& body = req.body();
  jsonrpc::decoded_body decoded = decoder_.decode_body(body);
  if (decoded.problem_code != 0) {
    return;
  }
  auto complete = [&](std::string_view text, const jsonrpc::envelope& env) {
    if (env.kind != jsonrpc::message_kind::request) {
      return;
    }
    request_record record;
    record.who = ctx.who;
    record.route = route.path;
    record.backend = route.backend_name();
    record.method = env.method.str();
    record.name = jsonrpc::subject_of(env);
    record.client_id = env.id.in(text);
    record.started = std::chrono::system_clock::now();
    record.started_steady = std::chrono::steady_clock::now();
    record.outcome = request_outcome::rejected;
    record.error_code = ctx.reply.code;
    record.error_message = ctx.reply.message;
    record.request_bytes = text.size();
    record.request_body.assign(text);
    // The refusal's body has no id: it answers the HTTP request, not one message.
    record.response_bytes = jsonrpc::make_error({}, ctx.reply.code, ctx.reply.message).size();
    chain_->run_complete(record);
  };
  if (!decoded.batch) {
    complete(body, decoded.single);
    return;
  }
  for (const auto& element : decoded.elements) {
    std::string_view text = element.in(body);
    complete(text, decoder_.decode(text));
  }
}

streamable_http_endpoint::admission::admission(const streamable_http_endpoint& endpoint, session& s,
                                               const principal& who, const request_headers* headers,
                                               std::string_view text, const jsonrpc::envelope& env,
                                               const trace::carried* carried)
    : s_(s),
      text_(text),
      env_(env),
      ctx_{who,      headers,          s.route().path,           s.backend_name(), s.id(),
           env.kind, env.method.str(), jsonrpc::subject_of(env), env.id.in(text),  text,
           {},       s.replica_url(),  env.arguments.in(text)} {
  const filter_chain* chain = s.filters();
  if (chain == nullptr) {
    status_ = filter_status::next;
    return;
  }
  const bool is_request = env.kind == jsonrpc::message_kind::request;
  if (is_request && s.request_pending(env.id.in(text))) {
    // MCP forbids reusing an id within a session; two at once would swap their records.
    ctx_.reply.code = jsonrpc::invalid_request;
    ctx_.reply.message = "request id " + std::string(env.id.in(text).substr(0, 64)) +
                         " is already in use by a request in flight in this session";
    status_ = filter_status::stop;  // no record: the request never began
    return;
  }
  if (is_request) {
    done_ = completion_guard(endpoint.chain_);
    request_record& record = done_.fill();
    ctx_.record = &record;
    record.who = who;
    record.route = s.route().path;
    record.backend = s.backend_name();
    record.replica = s.replica_url();
    record.session_id = s.id();
    record.method = env.method.str();
    record.name = jsonrpc::subject_of(env);
    record.client_id = env.id.in(text);
    record.request_bytes = text.size();
    record.started = std::chrono::system_clock::now();
    record.started_steady = std::chrono::steady_clock::now();
    // The request's trace as it came in; the gateway's span is added when it is forwarded.
    const std::string_view header = carried ? carried->traceparent : std::string_view();
    if (auto trace = trace::incoming(env.traceparent.in(text), header)) {
      record.trace_id.assign(trace->trace());
      record.parent_id.assign(trace->span());
    }
    if (carried != nullptr) {
      record.request_id = carried->request_id;
    }
  }
  status_ = chain->try_request(ctx_, waiting_);
}

net::awaitable<void> streamable_http_endpoint::admission::wait() {
  if (!status_) {
    status_ = co_await s_.filters()->run_request(ctx_, waiting_);
  }
}

filter_status streamable_http_endpoint::admission::settle(local_reply& reply) {
  if (*status_ == filter_status::stop) {
    reply = std::move(ctx_.reply);
    done_.set_outcome(request_outcome::rejected, reply.code, reply.message);
    done_.set_answer(jsonrpc::make_error(env_.id.in(text_), reply.code, reply.message).size(),
                     false);
    done_.keep_body(text_);
    return filter_status::stop;  // `done_` fires with the admission: the request is over
  }
  if (done_.active()) {
    s_.stage_completion(std::string(env_.id.in(text_)), std::move(done_));
  }
  return filter_status::next;
}

net::awaitable<filter_status> streamable_http_endpoint::filter_message(
    session& s, const principal& who, const request_headers* headers, std::string_view text,
    const jsonrpc::envelope& env, local_reply& reply) {
  admission admitted(*this, s, who, headers, text, env, nullptr);
  if (!admitted.decided()) {
    co_await admitted.wait();
  }
  co_return admitted.settle(reply);
}

net::awaitable<void> streamable_http_endpoint::send_local_reply(responder& res,
                                                                const local_reply& reply,
                                                                const jsonrpc::envelope& env,
                                                                std::string_view body,
                                                                const session* s) {
  std::vector<std::pair<std::string_view, std::string_view>> extra;
  for (const auto& h : reply.headers) {
    extra.emplace_back(h.name, h.value);
  }
  if (reply.status != 200) {
    co_await send_error(res, reply.status, reply.code, reply.message, env.id.in(body), extra);
    co_return;
  }
  if (s != nullptr) {
    extra.emplace_back("Mcp-Session-Id", s->id());
  }
  if (env.kind != jsonrpc::message_kind::request) {
    co_await res.send_empty(202, extra);  // a notification or response is dropped
    co_return;
  }
  co_await send_error(res, 200, reply.code, reply.message, env.id.in(body), extra);
}

}  // namespace mcpgw
