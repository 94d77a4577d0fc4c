// The endpoint and the session store: sessions published at initialize, taken up by another
// replica from their record, and let go of here without ending them elsewhere.
#include "mcp/endpoint_detail.h"
#include "mcp/streamable_http.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace mcpgw {

net::awaitable<void> streamable_http_endpoint::publish(session& s) {
  session_record record;
  record.id = s.id();
  record.route = s.route().path;
  record.backend = s.backend_name();
  record.upstream_id = s.upstream_id();
  record.protocol_version = s.protocol_version();
  // A process or a backend SSE stream lives in this replica; an HTTP backend's session is
  // reachable from any.
  if (s.route().uses_channel()) {
    record.owner = replica_id_;
  }
  record.who = s.who();
  record.who.scopes.clear();
  s.set_store_checked(session::clock::now());
  store_result stored = co_await store_->put(record, config_.session_store.idle_timeout);
  if (stored.status != store_status::ok) {
    log_.warn("session not recorded in the session store; it works on this replica only",
              {{"session", s.id()}, {"store", store_->type()}, {"error", stored.error}});
  }
}

net::awaitable<std::shared_ptr<session>> streamable_http_endpoint::adopt(std::string_view id,
                                                                         const route_binding& route,
                                                                         const principal& who,
                                                                         store_result& looked_up) {
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
  auto s = new_session(route, who, std::move(record.id));
  s->set_upstream_id(record.upstream_id);
  s->set_protocol_version(record.protocol_version);
  s->set_ready();
  s->set_adopted();
  s->set_store_checked(session::clock::now());
  sessions_.emplace(s->id(), s);
  log_.info("session taken up from the session store",
            {{"session", s->id()}, {"route", route.path}, {"backend", route.backend_name()}});
  co_return s;
}

void streamable_http_endpoint::forget_session(const std::shared_ptr<session>& s) {
  auto it = sessions_.find(s->id());
  if (it != sessions_.end() && it->second == s) {
    sessions_.erase(it);
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
