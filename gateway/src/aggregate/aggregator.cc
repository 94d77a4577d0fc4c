#include "aggregate/aggregator.h"

#include "mcpgw/glob.h"
#include "mcpgw/http_headers.h"
#include "mcpgw/version.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>

namespace mcpgw::aggregate {

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);
constexpr std::string_view init_id = "\"mcpgw-init\"";
constexpr std::string_view legacy_version = "2024-11-05";
constexpr std::size_t max_refresh_pages = 100;  // per backend, when looking for a name
// Requests of the backends the client has not answered; beyond it the oldest are forgotten.
constexpr std::size_t max_server_requests = 1024;
// Backend requests held until the client's initialize is answered.
constexpr std::size_t max_early_messages = 64;
// A name not in the catalog lists the backends again at most this often.
constexpr auto refresh_cooldown = std::chrono::seconds(1);
// The error a request gets when the client cancelled it before it reached a backend.
constexpr int cancelled_code = -32000;

struct kind_traits {
  std::string_view method;
  std::string_view key;        // the result's array
  std::string_view item_name;  // the member of an item that is renamed
  std::string_view changed;    // the notification that says the list changed
  char cursor;
  std::string_view noun;
};

const kind_traits& traits(aggregator::kind k) {
  static const std::array<kind_traits, 4> table{{
      {"tools/list", "tools", "name", "notifications/tools/list_changed", 't', "tool"},
      {"prompts/list", "prompts", "name", "notifications/prompts/list_changed", 'p', "prompt"},
      {"resources/list", "resources", "uri", "notifications/resources/list_changed", 'r',
       "resource"},
      {"resources/templates/list", "resourceTemplates", "uriTemplate",
       "notifications/resources/list_changed", 'T', "resource template"},
  }};
  return table[static_cast<std::size_t>(k)];
}

// Calls running at once and the wait for them: until all are done or the deadline passes;
// those still running then see gave_up.
struct gathering {
  std::size_t pending = 0;
  bool gave_up = false;
  net::steady_timer done;
  explicit gathering(net::any_io_executor ex) : done(ex) {}
  void finished() {
    --pending;
    done.cancel();
  }
  net::awaitable<void> wait(duration limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (pending > 0 && std::chrono::steady_clock::now() < deadline) {
      done.expires_at(deadline);
      co_await done.async_wait(tuple_awaitable);
    }
    gave_up = true;
  }
};

std::string result_message(std::string_view id, std::string_view result) {
  std::string out = R"({"jsonrpc":"2.0","id":)";
  out += id;
  out += R"(,"result":)";
  out += result;
  out += '}';
  return out;
}

std::string list_request(std::string_view method, std::string_view id, std::string_view cursor) {
  std::string out = R"({"jsonrpc":"2.0","id":)";
  out += id;
  out += R"(,"method":")";
  out += method;
  out += '"';
  if (!cursor.empty()) {
    out += R"(,"params":{"cursor":)";
    out += jsonrpc::quote(cursor);
    out += '}';
  }
  out += '}';
  return out;
}

bool offers_kind(const capability_set& caps, aggregator::kind k) {
  switch (k) {
    case aggregator::kind::tools:
      return caps.tools;
    case aggregator::kind::prompts:
      return caps.prompts;
    case aggregator::kind::resources:
    case aggregator::kind::templates:
      return caps.resources;
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// route_state

route_state::route_state(const route_config& config, std::vector<member_binding> members,
                         const limits_config& limits, logger& log,
                         const std::vector<tenant_config>* tenants)
    : config_(config),
      members_(std::move(members)),
      limits_(limits),
      log_(log),
      tenants_(tenants),
      name_("aggregate:" + config.path),
      known_(members_.size()) {}

bool route_state::permits(std::string_view tenant, std::size_t member) const {
  if (tenants_ == nullptr || tenant.empty()) {
    return true;
  }
  for (const tenant_config& t : *tenants_) {
    if (t.name == tenant) {
      const std::string& name = members_[member].name();
      return (t.allow.backends.empty() || glob_match_any(t.allow.backends, name)) &&
             !glob_match_any(t.deny.backends, name);
    }
  }
  return true;
}

void route_state::set_metrics(metrics* stats) {
  counters_.clear();
  if (stats == nullptr) {
    return;
  }
  static constexpr std::array<std::string_view, 4> events{"left_out", "lost", "joined", "reopened"};
  for (const member_binding& m : members_) {
    std::array<prometheus::Counter*, 4> row{};
    for (std::size_t e = 0; e < events.size(); ++e) {
      row[e] = &stats->aggregate_events.Add(
          {{"route", config_.path}, {"backend", m.name()}, {"event", std::string(events[e])}});
    }
    counters_.push_back(row);
  }
}

duration route_state::call_timeout() const {
  duration longest = config_.list_timeout;
  for (const member_binding& m : members_) {
    longest = std::max(longest, m.timeout());
  }
  // The backend's own deadline fires first and its error reaches the client.
  return longest + std::chrono::seconds(5);
}

// ---------------------------------------------------------------------------------------------
// lifetime

std::shared_ptr<aggregator> aggregator::create(net::any_io_executor ex, route_state& route,
                                               std::string tenant) {
  auto a = std::make_shared<aggregator>(ex, route, std::move(tenant));
  std::shared_ptr<upstream_owner> owner(a, static_cast<upstream_owner*>(a.get()));
  for (std::size_t i = 0; i < route.members().size(); ++i) {
    a->upstreams_.push_back(std::make_shared<upstream>(ex, route.members()[i], i, owner, a->tenant_,
                                                       route.limits(), route.log(), route.decoder(),
                                                       route.json()));
    a->rejoin_timers_.push_back(std::make_unique<net::steady_timer>(ex));
  }
  a->rejoining_.assign(route.members().size(), false);
  for (auto& r : a->refreshes_) {
    r.done = std::make_unique<net::steady_timer>(ex);
    r.last.resize(route.members().size());
  }
  for (std::size_t i = 0; i < route.members().size(); ++i) {
    a->permitted_.push_back(route.permits(a->tenant_, i));
  }
  a->conflicts_logged_.assign(route.members().size(), {});
  a->start_delivery();
  return a;
}

aggregator::aggregator(net::any_io_executor ex, route_state& route, std::string tenant)
    : message_channel(ex),
      ex_(ex),
      route_(route),
      tenant_(std::move(tenant)),
      log_(route.log()),
      decoder_(route.decoder()),
      json_(route.json()) {}

aggregator::~aggregator() = default;

void aggregator::stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  for (auto& up : upstreams_) {
    up->close();
  }
  for (auto& timer : rejoin_timers_) {
    timer->cancel();
  }
  detach_listener();
  source_done("session ended");
}

net::awaitable<void> aggregator::reply(std::string message) {
  if (!stopped_) {
    co_await queue(std::move(message));
  }
}

// ---------------------------------------------------------------------------------------------
// client -> backends

bool aggregator::send(std::string_view message) {
  if (stopped_) {
    return false;
  }
  jsonrpc::envelope env = decoder_.decode(message);
  switch (env.kind) {
    case jsonrpc::message_kind::request: {
      auto self = std::static_pointer_cast<aggregator>(shared_from_this());
      net::co_spawn(
          ex_,
          [self, text = std::string(message)]() mutable {
            return self->handle_request(std::move(text));
          },
          net::detached);
      break;
    }
    case jsonrpc::message_kind::notification:
      handle_notification(message, env);
      break;
    case jsonrpc::message_kind::result:
    case jsonrpc::message_kind::error:
      handle_response(message, env);
      break;
    case jsonrpc::message_kind::invalid:
      break;
  }
  return true;
}

net::awaitable<void> aggregator::handle_request(std::string text) {
  auto self = shared_from_this();
  jsonrpc::envelope env = decoder_.decode(text);
  std::string id(env.id.in(text));
  std::string method(env.method.str());
  std::string answer;
  // Known from now on: a cancellation that comes before anything is sent upstream stops it.
  in_flight_.try_emplace(id);
  struct forget {
    aggregator& a;
    const std::string& id;
    ~forget() { a.in_flight_.erase(id); }
  } forgotten{*this, id};
  if (method == "initialize") {
    answer = co_await initialize(text, env);
    co_await reply(std::move(answer));
    for (auto& [member, message] : std::exchange(early_, {})) {
      co_await from_backend(member, std::move(message));
    }
    co_return;
  } else if (method == "ping") {
    answer = result_message(id, "{}");
  } else if (method == "tools/list") {
    answer = co_await list(kind::tools, text, id);
  } else if (method == "prompts/list") {
    answer = co_await list(kind::prompts, text, id);
  } else if (method == "resources/list") {
    answer = co_await list(kind::resources, text, id);
  } else if (method == "resources/templates/list") {
    answer = co_await list(kind::templates, text, id);
  } else if (method == "tools/call") {
    answer = co_await call_by_name(kind::tools, text, env, id);
  } else if (method == "prompts/get") {
    answer = co_await call_by_name(kind::prompts, text, env, id);
  } else if (method == "resources/read" || method == "resources/subscribe" ||
             method == "resources/unsubscribe") {
    answer = co_await call_by_uri(text, env, id);
  } else if (method == "completion/complete") {
    answer = co_await complete(text, env, id);
  } else if (method == "logging/setLevel") {
    answer = co_await set_level(text, id);
  } else {
    answer = jsonrpc::make_error(
        id, jsonrpc::method_not_found,
        "method '" + method + "' is not available on the aggregated route " + route_.config().path);
  }
  co_await reply(std::move(answer));
}

void aggregator::handle_notification(std::string_view text, const jsonrpc::envelope& env) {
  std::string_view method = env.method.str();
  if (method == "notifications/initialized") {
    return;  // each backend got its own when its session opened
  }
  if (method == "notifications/cancelled") {
    std::string id(env.request_id.in(text));
    if (auto it = in_flight_.find(id); it != in_flight_.end()) {
      it->second.cancelled = true;
      for (std::size_t m : it->second.members) {
        upstreams_[m]->cancel(id, "cancelled by the client");
      }
    }
    return;
  }
  if (method == "notifications/roots/list_changed") {
    for (auto& up : upstreams_) {  // every backend may have asked for the roots
      up->post(std::string(text));
    }
    return;
  }
  log_.debug("client notification not forwarded on an aggregated route",
             {{"route", route_.config().path}, {"method", method}});
}

void aggregator::handle_response(std::string_view text, const jsonrpc::envelope& env) {
  std::int64_t ours = 0;
  std::string_view id = env.id.in(text);
  auto [ptr, ec] = std::from_chars(id.data(), id.data() + id.size(), ours);
  if (ec != std::errc() || ptr != id.data() + id.size()) {
    return;
  }
  auto it = server_requests_.find(ours);
  if (it == server_requests_.end()) {
    return;
  }
  upstreams_[it->second.member]->post(jsonrpc::splice(text, env.id, it->second.id));
  server_requests_.erase(it);
}

net::awaitable<std::string> aggregator::initialize(std::string_view text,
                                                   const jsonrpc::envelope& env) {
  auto self = shared_from_this();
  std::string id(env.id.in(text));
  std::string_view requested = env.protocol_version.str();
  std::string version(requested == legacy_version
                          ? legacy_version
                          : http_headers::negotiate_protocol_version(requested));
  init_ = jsonrpc::splice(text, env.id, init_id);

  auto state = std::make_shared<gathering>(ex_);
  const bool eager = route_.config().upstream_sessions == upstream_mode::eager;
  auto me = std::static_pointer_cast<aggregator>(self);
  for (std::size_t i = 0; i < upstreams_.size(); ++i) {
    if (!permitted_[i] || (!eager && !route_.known_capabilities(i).empty())) {
      continue;  // not this tenant's, or lazy: opened at first use
    }
    ++state->pending;
    net::co_spawn(
        ex_,
        [me, state, i]() -> net::awaitable<void> {
          bool ok = co_await me->upstreams_[i]->connect(me->init_);
          if (ok) {
            me->route_.known_capabilities(i) = me->upstreams_[i]->info().capabilities;
          }
          if (state->gave_up) {
            if (ok) {
              me->joined(i);  // it missed the initialize answer: the client lists again
            } else {
              me->schedule_rejoin(i);
            }
          } else if (!ok) {
            me->schedule_rejoin(i);
          }
          state->finished();
        },
        net::detached);
  }
  co_await state->wait(route_.config().list_timeout);

  capability_set caps;
  std::string instructions;
  for (std::size_t i = 0; i < upstreams_.size(); ++i) {
    const upstream& up = *upstreams_[i];
    if (up.ready()) {
      caps |= up.offers();
      if (!up.info().instructions.empty()) {
        instructions += instructions.empty() ? "" : "\n\n";
        instructions += up.member().name() + ": " + up.info().instructions;
      }
    } else if (permitted_[i]) {
      if (!route_.known_capabilities(i).empty()) {
        caps |= read_capabilities(route_.known_capabilities(i));
      }
      if (up.state() != link_state::idle) {
        route_.count(i, route_state::event::left_out);
        log_.warn("aggregated backend left out of the session for now",
                  {{"route", route_.config().path},
                   {"backend", up.member().name()},
                   {"error",
                    up.last_error().empty() ? "no answer within list_timeout" : up.last_error()}});
      }
    }
  }
  if (!caps.tools && !caps.prompts && !caps.resources) {
    caps.tools = true;  // nothing is known yet: tools appear when a backend joins
  }
  std::string result = R"({"protocolVersion":)" + jsonrpc::quote(version) + R"(,"capabilities":)" +
                       offer(caps) + R"(,"serverInfo":{"name":"mcpgw","version":)" +
                       jsonrpc::quote(mcpgw::version) + "}";
  if (!instructions.empty()) {
    result += R"(,"instructions":)" + jsonrpc::quote(instructions);
  }
  result += '}';
  initialized_ = true;
  co_return result_message(id, result);
}

// ---------------------------------------------------------------------------------------------
// lists

bool aggregator::offers(std::size_t member, kind k) const {
  if (!permitted_[member]) {
    return false;
  }
  const upstream& up = *upstreams_[member];
  if (up.ready()) {
    return offers_kind(up.offers(), k);
  }
  const std::string& known = route_.known_capabilities(member);
  return !known.empty() && offers_kind(read_capabilities(known), k);
}

const name_filter& aggregator::route_filter(kind k) const {
  const item_filters& f = route_.config().filters;
  return k == kind::tools ? f.tools : k == kind::prompts ? f.prompts : f.resources;
}

const name_filter& aggregator::member_filter(std::size_t member, kind k) const {
  const item_filters& f = route_.config().members[member].filters;
  return k == kind::tools ? f.tools : k == kind::prompts ? f.prompts : f.resources;
}

net::awaitable<bool> aggregator::ensure(std::size_t member) {
  if (!permitted_[member]) {
    co_return false;
  }
  upstream& up = *upstreams_[member];
  if (up.ready()) {
    co_return true;
  }
  if (up.state() == link_state::down || stopped_) {
    co_return false;  // its rejoin loop opens it again
  }
  bool ok = co_await up.connect(init_);
  if (ok) {
    route_.known_capabilities(member) = up.info().capabilities;
    reapply(member);  // a log level set before the backend was opened
  } else {
    schedule_rejoin(member);
  }
  co_return ok;
}

net::awaitable<std::string> aggregator::list(kind k, std::string_view text, std::string_view id) {
  auto self = shared_from_this();
  std::vector<page_position> from;
  if (std::optional<string_at> cursor = json_.param(text, "cursor")) {
    auto decoded = decode_cursor(traits(k).cursor, cursor->value, upstreams_.size());
    if (!decoded) {
      co_return jsonrpc::make_error(id, jsonrpc::invalid_params,
                                    "params.cursor: not a cursor this route gave out for " +
                                        std::string(traits(k).method) + " (" +
                                        jsonrpc::quote(cursor->value.substr(0, 40)) +
                                        "); list from the start without one");
    }
    from = std::move(*decoded);
    std::erase_if(from, [this](const page_position& p) { return !permitted_[p.member]; });
  } else {
    for (std::size_t i = 0; i < upstreams_.size(); ++i) {
      if (upstreams_[i]->state() != link_state::down && offers(i, k)) {
        from.push_back(page_position{i, {}});
      }
    }
  }
  std::vector<fetched> answers = co_await fan_out(k, from, id);
  std::vector<page_position> next;
  co_return merge(k, from, answers, id, next);
}

net::awaitable<std::vector<aggregator::fetched>> aggregator::fan_out(
    kind k, std::span<const page_position> from, std::string_view id) {
  auto state = std::make_shared<gathering>(ex_);
  auto results = std::make_shared<std::vector<fetched>>(from.size());
  state->pending = from.size();
  auto me = std::static_pointer_cast<aggregator>(shared_from_this());
  for (std::size_t j = 0; j < from.size(); ++j) {
    net::co_spawn(
        ex_,
        [me, state, results, j, k, member = from[j].member, cursor = from[j].cursor,
         id = std::string(id)]() -> net::awaitable<void> {
          call_result r;
          if (co_await me->ensure(member)) {
            r = co_await me->tracked_call(member, list_request(traits(k).method, id, cursor), id,
                                          traits(k).method);
          } else {
            r.code = jsonrpc::backend_unavailable;
            r.error = me->upstreams_[member]->last_error();
          }
          if (state->gave_up) {
            if (r.ok()) {
              me->notify_changed(k);  // it missed the answer: the client lists again
            }
          } else {
            (*results)[j].result = std::move(r);
          }
          state->finished();
        },
        net::detached);
  }
  co_await state->wait(route_.config().list_timeout);
  for (std::size_t j = 0; j < from.size(); ++j) {
    const auto& r = (*results)[j].result;
    if (!r || !r->ok()) {
      route_.count(from[j].member, route_state::event::left_out);
      log_.warn("aggregated backend left out of a list",
                {{"route", route_.config().path},
                 {"backend", upstreams_[from[j].member]->member().name()},
                 {"method", traits(k).method},
                 {"error", !r ? "no answer within list_timeout" : std::string_view(r->error)}});
    }
  }
  co_return std::move(*results);
}

std::string aggregator::merge(kind k, std::span<const page_position> from,
                              std::span<fetched> answers, std::string_view id,
                              std::vector<page_position>& next) {
  const kind_traits& t = traits(k);
  const bool named = k == kind::tools || k == kind::prompts;
  std::string items;
  for (std::size_t j = 0; j < from.size(); ++j) {
    const std::size_t m = from[j].member;
    const route_member& config = route_.config().members[m];
    const auto& r = answers[j].result;
    if (!r || !r->ok()) {
      continue;
    }
    std::optional<list_page> page = json_.page(r->response, t.key);
    if (!page) {
      log_.debug("aggregated backend answered a list with no list",
                 {{"backend", config.backend},
                  {"method", t.method},
                  {"answer", std::string_view(r->response).substr(0, 200)}});
      continue;
    }
    for (std::string_view item : page->items) {
      std::optional<string_at> own = json_.member(item, t.item_name);
      if (!own || !member_filter(m, k).admits(own->value)) {
        continue;
      }
      std::string visible = named ? visible_name(config, own->value, k == kind::tools)
                                  : visible_uri(config, own->value);
      if (!route_filter(k).admits(visible)) {
        continue;
      }
      if (named) {
        auto [it, inserted] = catalog_of(k).try_emplace(visible, target{m, own->value});
        if (!inserted && it->second.member != m) {
          if (!conflicts_logged_[m][static_cast<std::size_t>(k)]) {
            conflicts_logged_[m][static_cast<std::size_t>(k)] = true;
            log_.warn("aggregated name taken by an earlier backend; left out",
                      {{"route", route_.config().path},
                       {"backend", config.backend},
                       {"name", visible},
                       {"taken_by", route_.config().members[it->second.member].backend}});
          }
          continue;
        }
        it->second = target{m, own->value};
      }
      if (!items.empty()) {
        items += ',';
      }
      items += jsonrpc::splice(item, own->at, jsonrpc::quote(visible));
    }
    if (page->next_cursor && !page->next_cursor->empty()) {
      next.push_back(page_position{m, *page->next_cursor});
    }
  }
  std::string result = "{\"" + std::string(t.key) + "\":[" + items + "]";
  if (!next.empty()) {
    result += R"(,"nextCursor":)" + jsonrpc::quote(encode_cursor(t.cursor, next));
  }
  result += '}';
  return result_message(id, result);
}

net::awaitable<void> aggregator::refresh(kind k, std::string_view name) {
  auto self = shared_from_this();
  // One at a time per kind, and a backend not again within refresh_cooldown: names that are
  // not there cannot make the gateway list the backends over and over.
  refresh_state& r = refreshes_[static_cast<std::size_t>(k)];
  while (r.running) {
    r.done->expires_at(net::steady_timer::time_point::max());
    co_await r.done->async_wait(tuple_awaitable);
  }
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::size_t> members;
  for (std::size_t m = 0; m < upstreams_.size(); ++m) {
    const route_member& config = route_.config().members[m];
    const bool could_be =
        config.prefix.empty() || name.starts_with(config.prefix + config.separator);
    if (could_be && upstreams_[m]->state() != link_state::down && offers(m, k) &&
        now - r.last[m] >= refresh_cooldown) {
      members.push_back(m);
    }
  }
  if (members.empty()) {
    co_return;
  }
  r.running = true;
  struct finish {
    refresh_state& r;
    ~finish() {
      r.running = false;
      r.done->cancel();
    }
  } finished{r};
  for (std::size_t m : members) {
    r.last[m] = now;
    std::vector<page_position> from{page_position{m, {}}};
    for (std::size_t page = 0; page < max_refresh_pages && !from.empty(); ++page) {
      std::string id = next_internal_id();
      std::vector<fetched> answers = co_await fan_out(k, from, id);
      in_flight_.erase(id);
      std::vector<page_position> next;
      merge(k, from, answers, id, next);
      from = std::move(next);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// calls

net::awaitable<call_result> aggregator::tracked_call(std::size_t member, std::string body,
                                                     std::string_view id, std::string_view method) {
  auto self = shared_from_this();
  std::string key(id);
  auto it = in_flight_.find(key);
  if (it != in_flight_.end() && it->second.cancelled) {
    co_return call_result{{}, cancelled_code, "request cancelled by the client"};
  }
  in_flight_[key].members.push_back(member);
  call_result r = co_await upstreams_[member]->call(std::move(body), key, method);
  if (it = in_flight_.find(key); it != in_flight_.end()) {
    std::erase(it->second.members, member);
  }
  co_return r;
}

net::awaitable<std::string> aggregator::forward(std::size_t member, std::string body,
                                                std::string_view id, std::string_view method) {
  auto self = shared_from_this();
  upstream& up = *upstreams_[member];
  if (!co_await ensure(member)) {
    co_return jsonrpc::make_error(
        id, jsonrpc::backend_unavailable,
        "backend '" + up.member().name() + "' is unavailable" +
            (up.last_error().empty() ? std::string() : " (" + up.last_error() + ")") +
            "; the gateway tries it again every " +
            std::to_string(route_.config().rejoin_interval.count()) + " ms at most");
  }
  call_result r = co_await tracked_call(member, std::move(body), id, method);
  if (!r.ok()) {
    co_return jsonrpc::make_error(id, r.code, r.error);
  }
  if (method == "resources/read" || method == "tools/call" || method == "prompts/get") {
    co_return map_uris(member, std::move(r.response));
  }
  co_return std::move(r.response);
}

std::string aggregator::map_uris(std::size_t member, std::string response) {
  const route_member& config = route_.config().members[member];
  if (config.uri_prefix.empty() || response.find("\"uri\"") == std::string::npos) {
    return response;
  }
  std::vector<string_at> uris = json_.result_uris(response);
  if (uris.empty()) {
    return response;
  }
  std::vector<std::string> replacements;
  replacements.reserve(uris.size());
  std::vector<jsonrpc::edit> edits;
  for (const string_at& u : uris) {
    replacements.push_back(jsonrpc::quote(visible_uri(config, u.value)));
    edits.push_back(jsonrpc::edit{u.at, replacements.back()});
  }
  return jsonrpc::splice(response, edits);
}

net::awaitable<std::string> aggregator::call_by_name(kind k, std::string_view text,
                                                     const jsonrpc::envelope& env,
                                                     std::string_view id) {
  auto self = shared_from_this();
  // The envelope's strings live in the route's shared decoder: copied before any co_await.
  const std::string method(env.method.str());
  const kind_traits& t = traits(k);
  std::optional<string_at> name = json_.param(text, "name");
  if (!name) {
    co_return jsonrpc::make_error(id, jsonrpc::invalid_params,
                                  "params.name: expected the " + std::string(t.noun) + "'s name");
  }
  auto it = catalog_of(k).find(name->value);
  if (it == catalog_of(k).end()) {
    co_await refresh(k, name->value);  // not listed yet, or the list changed since
    it = catalog_of(k).find(name->value);
  }
  if (it == catalog_of(k).end()) {
    for (const auto& up : upstreams_) {
      const route_member& m = *up->member().config;
      if (up->state() == link_state::down && !m.prefix.empty() &&
          name->value.starts_with(m.prefix + m.separator)) {
        co_return jsonrpc::make_error(
            id, jsonrpc::backend_unavailable,
            "backend '" + m.backend + "', whose " + std::string(t.noun) + " " +
                jsonrpc::quote(name->value) + " would be, is unavailable" +
                (up->last_error().empty() ? std::string() : " (" + up->last_error() + ")") +
                "; its " + std::string(t.noun) + "s are listed again when it is back");
      }
    }
    std::string down;
    for (const auto& up : upstreams_) {
      if (up->state() == link_state::down) {
        down += down.empty() ? "" : ", ";
        down += up->member().name();
      }
    }
    co_return jsonrpc::make_error(
        id, jsonrpc::invalid_params,
        "unknown " + std::string(t.noun) + " " + jsonrpc::quote(name->value) + " on route " +
            route_.config().path +
            (down.empty()
                 ? std::string()
                 : " (backends unavailable now, whose names are not listed: " + down + ")"));
  }
  target to = it->second;
  std::string body = jsonrpc::splice(text, name->at, jsonrpc::quote(to.name));
  co_return co_await forward(to.member, std::move(body), id, method);
}

net::awaitable<std::string> aggregator::call_by_uri(std::string_view text,
                                                    const jsonrpc::envelope& env,
                                                    std::string_view id) {
  auto self = shared_from_this();
  const std::string method(env.method.str());  // before any co_await (see call_by_name)
  std::optional<string_at> uri = json_.param(text, "uri");
  if (!uri) {
    co_return jsonrpc::make_error(id, jsonrpc::invalid_params,
                                  "params.uri: expected the resource's URI");
  }
  std::string original;
  std::optional<std::size_t> member = resolve_uri(route_.config().members, uri->value, original);
  if (!member || !permitted_[*member] || !route_filter(kind::resources).admits(uri->value) ||
      !member_filter(*member, kind::resources).admits(original)) {
    co_return jsonrpc::make_error(id, jsonrpc::invalid_params,
                                  "resource " + jsonrpc::quote(uri->value) +
                                      " is not available on route " + route_.config().path);
  }
  std::string body = jsonrpc::splice(text, uri->at, jsonrpc::quote(original));
  std::string answer = co_await forward(*member, std::move(body), id, method);
  if (method == "resources/subscribe" || method == "resources/unsubscribe") {
    if (decoder_.decode(answer).kind == jsonrpc::message_kind::result) {
      if (method == "resources/subscribe") {
        subscriptions_.emplace(*member, original);
      } else {
        subscriptions_.erase({*member, original});
      }
    }
  }
  co_return answer;
}

net::awaitable<std::string> aggregator::complete(std::string_view text,
                                                 const jsonrpc::envelope& env,
                                                 std::string_view id) {
  auto self = shared_from_this();
  const std::string method(env.method.str());  // before any co_await (see call_by_name)
  std::optional<string_at> type = json_.ref(text, "type");
  if (type && type->value == "ref/prompt") {
    std::optional<string_at> name = json_.ref(text, "name");
    if (!name) {
      co_return jsonrpc::make_error(id, jsonrpc::invalid_params,
                                    "params.ref.name: expected the prompt's name");
    }
    auto it = prompts_.find(name->value);
    if (it == prompts_.end()) {
      co_await refresh(kind::prompts, name->value);
      it = prompts_.find(name->value);
    }
    if (it == prompts_.end()) {
      co_return jsonrpc::make_error(
          id, jsonrpc::invalid_params,
          "unknown prompt " + jsonrpc::quote(name->value) + " on route " + route_.config().path);
    }
    target to = it->second;
    std::string body = jsonrpc::splice(text, name->at, jsonrpc::quote(to.name));
    co_return co_await forward(to.member, std::move(body), id, method);
  }
  if (type && type->value == "ref/resource") {
    std::optional<string_at> uri = json_.ref(text, "uri");
    std::string original;
    std::optional<std::size_t> member =
        uri ? resolve_uri(route_.config().members, uri->value, original) : std::nullopt;
    if (!member || !permitted_[*member] || !route_filter(kind::resources).admits(uri->value) ||
        !member_filter(*member, kind::resources).admits(original)) {
      co_return jsonrpc::make_error(
          id, jsonrpc::invalid_params,
          "params.ref.uri: expected a resource template URI of a backend on route " +
              route_.config().path);
    }
    std::string body = jsonrpc::splice(text, uri->at, jsonrpc::quote(original));
    co_return co_await forward(*member, std::move(body), id, method);
  }
  co_return jsonrpc::make_error(id, jsonrpc::invalid_params,
                                "params.ref.type: expected \"ref/prompt\" or \"ref/resource\"");
}

net::awaitable<std::string> aggregator::set_level(std::string_view text, std::string_view id) {
  std::optional<string_at> level = json_.param(text, "level");
  if (!level) {
    co_return jsonrpc::make_error(id, jsonrpc::invalid_params,
                                  "params.level: expected a level like \"info\"");
  }
  log_level_ = level->value;
  for (std::size_t m = 0; m < upstreams_.size(); ++m) {
    if (upstreams_[m]->ready() && upstreams_[m]->offers().logging) {
      upstreams_[m]->post(R"({"jsonrpc":"2.0","id":)" + next_internal_id() +
                          R"(,"method":"logging/setLevel","params":{"level":)" +
                          jsonrpc::quote(log_level_) + "}}");
    }
  }
  co_return result_message(id, "{}");
}

// ---------------------------------------------------------------------------------------------
// backends -> client

net::awaitable<void> aggregator::from_backend(std::size_t member, std::string message) {
  auto self = shared_from_this();
  if (stopped_) {
    co_return;
  }
  jsonrpc::envelope env = decoder_.decode(message);
  if (!initialized_ && env.kind != jsonrpc::message_kind::notification) {
    // A backend that asks the client something while the client's initialize is still being
    // answered (roots/list right after notifications/initialized): it waits for the answer.
    if (early_.size() < max_early_messages) {
      early_.emplace_back(member, std::move(message));
    }
    co_return;
  }
  if (env.kind == jsonrpc::message_kind::request) {
    if (server_requests_.size() >= max_server_requests) {
      server_requests_.erase(server_requests_.begin());  // the oldest, never answered
    }
    std::int64_t ours = next_server_request_++;
    server_requests_[ours] = server_request{member, std::string(env.id.in(message))};
    co_await reply(jsonrpc::splice(message, env.id, std::to_string(ours)));
    co_return;
  }
  if (env.kind != jsonrpc::message_kind::notification) {
    co_return;  // an answer nobody waits for
  }
  std::string_view method = env.method.str();
  const bool list_changed = method == "notifications/tools/list_changed" ||
                            method == "notifications/prompts/list_changed" ||
                            method == "notifications/resources/list_changed";
  if (list_changed && !initialized_) {
    co_return;  // before the initialize answer: the client has not listed anything yet
  }
  if (method == "notifications/tools/list_changed") {
    std::erase_if(tools_, [member](const auto& e) { return e.second.member == member; });
    refreshes_[static_cast<std::size_t>(kind::tools)].last[member] = {};
  } else if (method == "notifications/prompts/list_changed") {
    std::erase_if(prompts_, [member](const auto& e) { return e.second.member == member; });
    refreshes_[static_cast<std::size_t>(kind::prompts)].last[member] = {};
  } else if (method == "notifications/resources/updated") {
    if (std::optional<string_at> uri = json_.param(message, "uri")) {
      message =
          jsonrpc::splice(message, uri->at,
                          jsonrpc::quote(visible_uri(route_.config().members[member], uri->value)));
    }
  } else if (method == "notifications/cancelled" && env.request_id.present()) {
    std::string_view theirs = env.request_id.in(message);
    auto it = std::find_if(server_requests_.begin(), server_requests_.end(), [&](const auto& e) {
      return e.second.member == member && e.second.id == theirs;
    });
    if (it == server_requests_.end()) {
      co_return;
    }
    message = jsonrpc::splice(message, env.request_id, std::to_string(it->first));
    server_requests_.erase(it);
  }
  co_await reply(std::move(message));
}

void aggregator::notify_changed(kind k) {
  if (stopped_ || !initialized_) {
    return;
  }
  auto self = std::static_pointer_cast<aggregator>(shared_from_this());
  std::string note = R"({"jsonrpc":"2.0","method":")" + std::string(traits(k).changed) + "\"}";
  net::co_spawn(
      ex_, [self, note = std::move(note)]() mutable { return self->reply(std::move(note)); },
      net::detached);
}

void aggregator::changed(std::size_t member) {
  std::erase_if(tools_, [member](const auto& e) { return e.second.member == member; });
  std::erase_if(prompts_, [member](const auto& e) { return e.second.member == member; });
  for (auto& r : refreshes_) {
    r.last[member] = {};  // what the catalog lacks now may be looked up at once
  }
  const capability_set& caps = upstreams_[member]->offers();
  if (caps.tools) {
    notify_changed(kind::tools);
  }
  if (caps.prompts) {
    notify_changed(kind::prompts);
  }
  if (caps.resources) {
    notify_changed(kind::resources);
  }
}

void aggregator::lost(std::size_t member, const std::string& why) {
  if (stopped_) {
    return;
  }
  route_.count(member, route_state::event::lost);
  log_.warn("aggregated backend lost; its items are left out until it is back",
            {{"route", route_.config().path},
             {"backend", upstreams_[member]->member().name()},
             {"error", why}});
  changed(member);
  schedule_rejoin(member);
}

void aggregator::joined(std::size_t member) {
  if (stopped_) {
    return;
  }
  upstream& up = *upstreams_[member];
  route_.count(member, route_state::event::joined);
  log_.info("aggregated backend joined",
            {{"route", route_.config().path}, {"backend", up.member().name()}});
  changed(member);
  reapply(member);
}

void aggregator::reopened(std::size_t member) {
  route_.count(member, route_state::event::reopened);
  reapply(member);
}

void aggregator::reapply(std::size_t member) {
  upstream& up = *upstreams_[member];
  for (const auto& [m, uri] : subscriptions_) {
    if (m == member) {
      up.post(R"({"jsonrpc":"2.0","id":)" + next_internal_id() +
              R"(,"method":"resources/subscribe","params":{"uri":)" + jsonrpc::quote(uri) + "}}");
    }
  }
  if (!log_level_.empty() && up.offers().logging) {
    up.post(R"({"jsonrpc":"2.0","id":)" + next_internal_id() +
            R"(,"method":"logging/setLevel","params":{"level":)" + jsonrpc::quote(log_level_) +
            "}}");
  }
}

void aggregator::schedule_rejoin(std::size_t member) {
  if (stopped_ || rejoining_[member]) {
    return;
  }
  rejoining_[member] = true;
  auto self = std::static_pointer_cast<aggregator>(shared_from_this());
  net::co_spawn(
      ex_, [self, member]() { return self->rejoin(member); }, net::detached);
}

net::awaitable<void> aggregator::rejoin(std::size_t member) {
  auto self = shared_from_this();
  duration backoff = std::min<duration>(std::chrono::seconds(1), route_.config().rejoin_interval);
  net::steady_timer& timer = *rejoin_timers_[member];
  while (!stopped_) {
    timer.expires_after(backoff);
    co_await timer.async_wait(tuple_awaitable);
    if (stopped_) {
      break;
    }
    if (upstreams_[member]->ready()) {  // opened meanwhile (a 404 re-open): back all the same
      rejoining_[member] = false;
      joined(member);
      co_return;
    }
    if (co_await upstreams_[member]->connect(init_)) {
      route_.known_capabilities(member) = upstreams_[member]->info().capabilities;
      rejoining_[member] = false;
      joined(member);
      co_return;
    }
    backoff = std::min(backoff * 2, route_.config().rejoin_interval);
  }
  rejoining_[member] = false;
}

}  // namespace mcpgw::aggregate
