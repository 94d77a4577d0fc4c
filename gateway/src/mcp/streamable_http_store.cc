// The endpoint and the session store: sessions published at initialize, taken up by another
// replica from their record, and let go of here without ending them elsewhere.
#include "mcp/endpoint_detail.h"
#include "mcp/streamable_http.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <openssl/rand.h>

#include <stdexcept>
#include <utility>
#include <vector>

namespace mcpgw {

namespace {

// Somewhere in [2^20, 2^52): far from the ids the creating replica counts up from 0, and from
// other adopters', and still exact in a JavaScript number.
std::int64_t random_upstream_base() {
  std::uint64_t r = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&r), sizeof r) != 1) {
    throw std::runtime_error("the OS random generator failed");
  }
  return static_cast<std::int64_t>((r % ((1ULL << 32) - 1) + 1) << 20);
}

}  // namespace

net::awaitable<void> streamable_http_endpoint::publish(session& s) {
  session_record record;
  record.id = s.id();
  record.route = s.route().path;
  record.backend = s.backend_name();
  record.upstream_id = s.upstream_id();
  record.replica = s.replica_url();
  record.protocol_version = s.protocol_version();
  record.client_capabilities = s.client_capabilities();
  // A process or a backend SSE stream lives in this replica; an HTTP backend's session is
  // reachable from any.
  if (s.route().uses_channel()) {
    record.owner = replica_id_;
  }
  record.who = s.who();
  record.who.scopes.clear();
  s.set_store_checked(session::clock::now());
  store_result stored = co_await store_->put(record, config_.session_store.idle_timeout);
  s.set_unpublished(stored.status != store_status::ok);
  if (stored.status != store_status::ok) {
    log_.warn("session not recorded in the session store; it works on this replica only",
              {{"session", s.id()}, {"store", store_->type()}, {"error", stored.error}});
  }
}

net::awaitable<std::shared_ptr<session>> streamable_http_endpoint::adopt(std::string_view id,
                                                                         const route_binding& route,
                                                                         const principal& who,
                                                                         store_result& looked_up,
                                                                         std::string& owner) {
  session_record record;
  looked_up = co_await store_->get(id, record);
  if (looked_up.status == store_status::unavailable) {
    log_.warn("session store unavailable", {{"session", id}, {"error", looked_up.error}});
    co_return nullptr;
  }
  // Another request may have taken it up while this one waited.
  if (auto it = sessions_.find(id); it != sessions_.end()) {
    co_return it->second;
  }
  if (looked_up.status == store_status::not_found || record.route != route.path ||
      !record.who.same_as(who)) {
    co_return nullptr;  // answered like an id that never existed
  }
  if (!record.owner.empty() && record.owner != replica_id_ && cluster_ != nullptr) {
    owner = record.owner;  // its process is there: the request goes there
    co_return nullptr;
  }
  if (!record.owner.empty() || route.uses_channel()) {
    // Its process or stream is in another replica (or was in this one and is gone).
    log_.info("session held by another replica",
              {{"session", id}, {"owner", record.owner}, {"route", route.path}});
    co_return nullptr;
  }
  if (record.backend != route.backend_name()) {
    log_.warn("session record names another backend than its route's",
              {{"session", id}, {"record", record.backend}, {"route", route.path}});
    co_return nullptr;
  }
  std::optional<std::size_t> replica;
  if (!record.replica.empty()) {
    replica = route.group != nullptr ? route.group->replicas().find(record.replica) : std::nullopt;
    if (!replica || !route.group->replicas().healthy(*replica)) {
      log_.info(replica ? "session's backend replica is down"
                        : "session's backend replica is unknown here",
                {{"session", id}, {"backend", record.backend}, {"replica", record.replica}});
      co_return nullptr;
    }
  }
  auto s = new_session(route, who, std::move(record.id));
  if (replica) {
    s->pin_replica(*replica);
  }
  s->set_upstream_id(record.upstream_id);
  s->set_protocol_version(record.protocol_version);
  s->set_client_capabilities(std::move(record.client_capabilities));
  s->set_ready();
  s->set_adopted(random_upstream_base());
  s->set_store_checked(session::clock::now());
  sessions_.emplace(s->id(), s);
  note_held();
  log_.info("session taken up from the session store",
            {{"session", s->id()}, {"route", route.path}, {"backend", route.backend_name()}});
  co_return s;
}

void streamable_http_endpoint::forget_session(const std::shared_ptr<session>& s) {
  auto it = sessions_.find(s->id());
  if (it != sessions_.end() && it->second == s) {
    sessions_.erase(it);
    note_held();
  }
  s->close();
}

net::awaitable<void> streamable_http_endpoint::retire(std::shared_ptr<session> s,
                                                      bool delete_upstream_session,
                                                      bool erase_record) {
  if (erase_record) {
    store_result erased = co_await store_->erase(s->id());
    if (erased.status == store_status::unavailable) {
      log_.warn("session record not erased; it expires with its TTL",
                {{"session", s->id()}, {"error", erased.error}});
    }
  }
  if (delete_upstream_session) {
    co_await delete_upstream(s, false);
  }
  --background_;
}

}  // namespace mcpgw

namespace mcpgw {

using namespace endpoint_detail;

net::awaitable<void> streamable_http_endpoint::forward(client_request& req, responder& res,
                                                       const route_binding& route,
                                                       const principal& who, std::string owner) {
  const std::string id(header_of(req, "mcp-session-id"));
  http_backend& peer = cluster_->peer(owner);
  const std::string headers = cluster_->forwarding_headers(who);
  backend_request breq;
  breq.method = req.method();
  breq.body = req.body();
  breq.target = req.target();
  breq.session_id = id;
  breq.protocol_version = header_of(req, "mcp-protocol-version");
  breq.last_event_id = header_of(req, "last-event-id");
  breq.accept = header_of(req, http::field::accept);
  breq.stream = req.method() == http::verb::get;
  breq.extra_headers = headers;
  auto [failure, exchange] = co_await peer.send(breq);
  if (failure != backend_failure::none) {
    // Gone for good (its registration expired or was removed at shutdown), or only out of
    // reach for now.
    remote_.erase(id);
    cluster::owner_state state = co_await cluster_->state_of(owner);
    if (state == cluster::owner_state::gone) {
      log_.info("session's replica is gone; the session ended with it",
                {{"session", id}, {"owner", owner}, {"route", route.path}});
      co_await store_->erase(id);
      co_await send_error(res, 404, session_not_found,
                          "session not found: the gateway replica that held its process has "
                          "stopped; start a new session with initialize");
      co_return;
    }
    log_.warn("session's replica unreachable", {{"session", id}, {"owner", owner}});
    static constexpr std::pair<std::string_view, std::string_view> retry[] = {{"Retry-After", "1"}};
    co_await send_error(res, 503, transport_error,
                        "the gateway replica that holds this session (" + owner +
                            ") cannot be reached; retry shortly",
                        {}, header_list(retry));
    co_return;
  }
  const unsigned status = exchange->status();
  const std::string session_id(exchange->header("mcp-session-id"));
  const std::string retry_after(exchange->header("retry-after"));
  const std::string allow(exchange->header(http::field::allow));
  std::vector<std::pair<std::string_view, std::string_view>> extra;
  if (!session_id.empty()) {
    extra.emplace_back("Mcp-Session-Id", session_id);
  }
  if (!retry_after.empty()) {
    extra.emplace_back("Retry-After", retry_after);
  }
  if (!allow.empty()) {
    extra.emplace_back("Allow", allow);
  }
  if (status == 404) {
    remote_.erase(id);
  }
  if (status == 200 && exchange->is_sse()) {
    if (req.method() == http::verb::get) {
      res.mark_long_lived();
      res.disable_keep_alive();
    }
    const bool started = co_await res.start_stream(extra);
    if (!started) {
      co_return;
    }
    // The owner's keep-alives go on too: a client gone is noticed at the next one instead of
    // holding the owner's stream until its next event.
    exchange->report_comments();
    sse::event ev;
    while (true) {
      event_status st = co_await exchange->next_event(ev);
      if (st != event_status::event) {
        break;
      }
      std::string out;
      if (ev.type == ":") {
        sse::append_comment(out, "keep-alive");
      } else {
        sse::append_event(out, ev.has_id ? std::string_view(ev.id) : std::string_view(), ev.data,
                          ev.retry_ms, ev.type);
      }
      const bool written = co_await res.write_chunk(out);
      if (!written) {
        break;
      }
    }
    if (!res.failed()) {
      co_await res.end_stream();
    }
    co_return;
  }
  std::string body;
  failure = co_await exchange->read_body(body);
  if (failure != backend_failure::none) {
    co_await send_error(
        res, 502, jsonrpc::backend_unavailable,
        "the gateway replica that holds this session (" + owner + ") did not finish its answer");
    co_return;
  }
  const std::string content_type(exchange->header(http::field::content_type));
  if (body.empty()) {
    co_await res.send_empty(status, extra);
  } else {
    co_await res.send(status, content_type, body, extra);
  }
}

}  // namespace mcpgw
