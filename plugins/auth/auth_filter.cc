#include "auth/auth_filter.h"

#include "mcpgw/http_headers.h"
#include "mcpgw/jsonrpc.h"

#include <algorithm>
#include <array>
#include <chrono>

namespace mcpgw::plugins {
namespace {

using http_headers::iequals;

constexpr std::string_view metadata_prefix = "/.well-known/oauth-protected-resource";

// RFC 6750 b64token: what a bearer credential may consist of. A table, not isalnum(): a token
// is checked on every request and may be a kilobyte long.
constexpr std::array<bool, 256> b64token_chars = [] {
  std::array<bool, 256> table{};
  for (unsigned c = 0; c < 256; ++c) {
    table[c] = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
  }
  return table;
}();

bool is_b64token(std::string_view token) {
  std::size_t end = token.size();
  while (end > 0 && token[end - 1] == '=') {
    --end;
  }
  if (end == 0) {
    return false;
  }
  return std::all_of(token.begin(), token.begin() + static_cast<std::ptrdiff_t>(end),
                     [](char c) { return b64token_chars[static_cast<unsigned char>(c)]; });
}

bool has_query_token(std::string_view target) {
  std::size_t q = target.find('?');
  if (q == std::string_view::npos) {
    return false;
  }
  std::string_view query = target.substr(q + 1);
  return query.starts_with("access_token=") ||
         query.find("&access_token=") != std::string_view::npos;
}

// A value for a quoted-string parameter of WWW-Authenticate.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    if (static_cast<unsigned char>(c) >= 0x20) {
      out.push_back(c);
    }
  }
  return out + "\"";
}

std::string join(const std::vector<std::string>& words, std::string_view sep) {
  std::string out;
  for (const auto& w : words) {
    out += (out.empty() ? "" : std::string(sep)) + w;
  }
  return out;
}

std::string_view describe(auth::jwt_error error) {
  switch (error) {
    case auth::jwt_error::expired:
      return "the token expired";
    case auth::jwt_error::not_yet_valid:
      return "the token is not valid yet";
    case auth::jwt_error::wrong_audience:
      return "the token was not issued for this resource";
    case auth::jwt_error::wrong_issuer:
      return "the token's issuer is not trusted here";
    default:
      return "the token is invalid";
  }
}

}  // namespace

auth_filter::auth_filter(auth_config config, const gateway_config& gateway, logger& log,
                         net::any_io_executor ex)
    : config_(std::move(config)),
      gateway_(gateway),
      log_(log),
      keys_(gateway.tenants),
      cache_(config_.cache) {
  for (const auto& t : gateway.tenants) {
    policies_.emplace(t.name, tenant_policy(t));
  }
  now_ = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  if (config_.jwt) {
    jwks_ = config_.jwt->fetch.url.empty()
                ? std::make_shared<jwks_source>(config_.jwt->keys)
                : std::make_shared<jwks_source>(ex, config_.jwt->fetch, log);
    // Without configured audiences: the resource, and the route's own URL (a client may have
    // asked for a token for the exact endpoint it talks to, RFC 8707), on that route only.
    // Route URLs are only derived when the resource is itself one of the routes at its
    // origin's root; behind a path prefix, origin + route would name another server.
    const bool at_root = std::any_of(
        gateway.routes.begin(), gateway.routes.end(),
        [&](const route_config& r) { return config_.origin + r.path == config_.resource; });
    for (const auto& r : gateway.routes) {
      auth::jwt_rules rules = config_.jwt->rules;
      if (rules.audiences.empty()) {
        rules.audiences = {config_.resource};
        if (at_root) {
          rules.audiences.push_back(config_.origin + r.path);
        }
      }
      route_rules_.emplace(r.path, std::move(rules));
    }
  }
  if (config_.scopes_supported.empty()) {
    for (const auto& [name, policy] : policies_) {
      for (auto& scope : policy.all_scopes()) {
        if (std::find(config_.scopes_supported.begin(), config_.scopes_supported.end(), scope) ==
            config_.scopes_supported.end()) {
          config_.scopes_supported.push_back(std::move(scope));
        }
      }
    }
  }
}

void auth_filter::count_into(metrics& m) {
  auto* hits = &m.auth_cache_lookups.Add({{"result", "hit"}});
  auto* misses = &m.auth_cache_lookups.Add({{"result", "miss"}});
  auto* entries = &m.auth_cache_entries.Add({});
  m.on_scrape(
      [this, &m, hits, misses, entries, seen = auth::credential_cache::counters{}]() mutable {
        const auto& now = cache_.stats();
        hits->Increment(static_cast<double>(now.hits - seen.hits));
        misses->Increment(static_cast<double>(now.misses - seen.misses));
        m.set_gauge(*entries, static_cast<double>(cache_.size()));  // each worker has a cache
        seen = now;
      });
}

const tenant_policy* auth_filter::policy_of(const principal& who) const {
  auto it = policies_.find(who.tenant);
  return it == policies_.end() ? nullptr : &it->second;
}

std::string auth_filter::metadata_url(std::string_view route) const {
  if (config_.resource.empty() || config_.authorization_servers.empty()) {
    return {};
  }
  return config_.origin + std::string(metadata_prefix) + (route == "/" ? "" : std::string(route));
}

filter_status auth_filter::challenge(http_context& ctx, unsigned status, std::string_view error,
                                     std::string_view description) const {
  ctx.reply.status = status;
  ctx.reply.code = status == 403   ? jsonrpc::forbidden
                   : status == 400 ? jsonrpc::invalid_request
                                   : jsonrpc::unauthorized;
  ctx.reply.message = std::string(description);
  std::string value = "Bearer";
  std::string sep = " ";
  auto param = [&](std::string_view name, std::string_view v) {
    value += sep + std::string(name) + "=" + quoted(v);
    sep = ", ";
  };
  if (std::string url = metadata_url(ctx.route); !url.empty()) {
    param("resource_metadata", url);
  }
  if (!error.empty()) {
    param("error", error);
    param("error_description", description);
  }
  if (status == 401 && !config_.scopes_supported.empty()) {
    param("scope", join(config_.scopes_supported, " "));
  }
  if (status != 403) {
    ctx.reply.headers.push_back({"WWW-Authenticate", std::move(value)});
  }
  (status == 403 ? stats_.forbidden : stats_.unauthenticated)++;
  log_.info("request refused", {{"route", ctx.route},
                                {"status", status == 400   ? "400"
                                           : status == 401 ? "401"
                                                           : "403"},
                                {"reason", description}});
  return filter_status::stop;
}

const auth::jwt_rules& auth_filter::rules_for(std::string_view route) const {
  auto it = route_rules_.find(route);
  return it == route_rules_.end() ? config_.jwt->rules : it->second;
}

void auth_filter::start() {
  if (jwks_) {
    jwks_->start();
  }
}

void auth_filter::stop() {
  if (jwks_) {
    jwks_->stop();
  }
}

filter_status auth_filter::verify_token(http_context& ctx, std::string_view token,
                                        const auth::jwk_set* keys, std::int64_t now,
                                        std::int64_t& not_after) const {
  const jwt_settings& jwt = *config_.jwt;
  if (keys == nullptr) {
    // Not the client's fault: the issuer's keys have not been fetched yet.
    ctx.reply.status = 503;
    ctx.reply.code = jsonrpc::unauthorized;
    ctx.reply.message = "the token issuer's keys are not available yet; retry shortly";
    ctx.reply.headers.push_back({"Retry-After", "5"});
    log_.warn("token not checked: no signing keys yet", {{"route", ctx.route}});
    return filter_status::stop;
  }
  const auth::jwt_rules& rules = rules_for(ctx.route);
  auth::jwt_result result = auth::verify_jwt(token, *keys, rules, now);
  if (result.error == auth::jwt_error::unknown_key) {
    jwks_->refresh_soon();  // the issuer may have rotated its keys
  }
  if (result.error != auth::jwt_error::none) {
    // The detail names claims and the issuer, never the token.
    log_.debug("token rejected",
               {{"error", auth::to_string(result.error)}, {"detail", result.detail}});
    return challenge(ctx, 401, "invalid_token", describe(result.error));
  }
  if (result.claims.subject.empty()) {
    // The session is bound to the subject: without one, every such token would be the same
    // principal. RFC 9068 access tokens always carry sub.
    return challenge(ctx, 401, "invalid_token", "the token has no subject (sub)");
  }
  principal who;
  who.via = principal::method::jwt;
  who.tenant = std::move(result.claims.tenant);
  who.subject = std::move(result.claims.subject);
  who.issuer = std::move(result.claims.issuer);
  who.scopes = std::move(result.claims.scopes);
  if (!jwt.rules.tenant_claim.empty() && !policies_.contains(who.tenant)) {
    return challenge(ctx, 403, "", "this token's tenant may not use the gateway");
  }
  ctx.who = std::move(who);
  // Valid through exp + leeway (verify_jwt refuses from the second after); without exp, until
  // the cache's max_age.
  const std::int64_t leeway = rules.leeway.count();
  const std::int64_t exp = result.claims.expires_at;
  not_after = exp == 0 || exp > auth::credential_cache::never - leeway
                  ? auth::credential_cache::never
                  : exp + leeway;
  return filter_status::next;
}

filter_status auth_filter::authenticate(http_context& ctx) const {
  if (has_query_token(ctx.target)) {
    return challenge(ctx, 400, "invalid_request",
                     "access tokens belong in the Authorization header, never in the URL");
  }
  std::string_view authorization = ctx.headers.get("authorization");
  std::string_view api_key =
      config_.api_key_header.empty() ? std::string_view() : ctx.headers.get(config_.api_key_header);
  std::string_view credential;
  if (!authorization.empty()) {
    std::size_t space = authorization.find(' ');
    std::string_view scheme = authorization.substr(0, space);
    if (!iequals(scheme, "Bearer")) {
      return challenge(ctx, 401, "invalid_request",
                       "unsupported authorization scheme; send Authorization: Bearer <token>");
    }
    credential =
        space == std::string_view::npos ? std::string_view() : authorization.substr(space + 1);
    while (!credential.empty() && credential.front() == ' ') {
      credential.remove_prefix(1);
    }
    if (!is_b64token(credential)) {
      return challenge(ctx, 400, "invalid_request",
                       "malformed Authorization header; expected Bearer followed by one token");
    }
  } else if (!api_key.empty()) {
    credential = api_key;
  } else {
    return challenge(ctx, 401, "",
                     "authentication required: send Authorization: Bearer <API key or token>");
  }
  const bool looks_like_jwt = std::count(credential.begin(), credential.end(), '.') == 2;
  // A JWT comes as a bearer token; anything else is an API key.
  const bool as_token = config_.jwt && looks_like_jwt && !authorization.empty();
  const std::int64_t now = now_();
  if (as_token && jwks_->current_keys() != cache_keys_.get()) {
    cache_.clear();  // the issuer's keys changed: every token is checked against the new ones
    cache_keys_ = jwks_->keys();
  }
  const auto via = as_token ? principal::method::jwt : principal::method::api_key;
  // A token's audience is the route's; an API key is the same key on every route (the route
  // policy below still decides where it may go).
  const std::string_view cache_route = as_token ? ctx.route : std::string_view();
  if (const principal* known = cache_.find(credential, cache_route, via, now)) {
    ctx.who = *known;
  } else if (as_token) {
    std::int64_t not_after = 0;
    if (verify_token(ctx, credential, cache_keys_.get(), now, not_after) == filter_status::stop) {
      return filter_status::stop;
    }
    cache_.put(credential, cache_route, now, not_after, ctx.who);
  } else if (auto match = keys_.find(credential)) {
    ctx.who.via = principal::method::api_key;
    ctx.who.tenant = std::move(match->tenant);
    ctx.who.subject = "key:" + match->fingerprint;
    cache_.put(credential, cache_route, now, auth::credential_cache::never, ctx.who);
  } else {
    return challenge(ctx, 401, "invalid_token", "unknown API key");
  }
  if (const tenant_policy* policy = policy_of(ctx.who)) {
    // "aggregate:<path>" names an aggregated route, whose backends it checks one by one (a
    // tenant's session there holds only the backends it may use).
    const bool aggregated = ctx.backend.starts_with("aggregate:");
    if (!policy->may_use_route(ctx.route) ||
        (!aggregated && !policy->may_use_backend(ctx.backend))) {
      return challenge(ctx, 403, "", "this credential may not use this route");
    }
  }
  ++stats_.authenticated;
  return filter_status::next;
}

net::awaitable<filter_status> auth_filter::on_http(http_context& ctx) {
  co_return authenticate(ctx);
}

net::awaitable<filter_status> auth_filter::on_request(message_context& ctx) {
  co_return check_request(ctx);
}

filter_status auth_filter::check_request(message_context& ctx) {
  const tenant_policy* policy =
      ctx.kind == jsonrpc::message_kind::request ? policy_of(ctx.who) : nullptr;
  if (policy == nullptr) {
    return filter_status::next;
  }
  // Refusals read exactly like the SDK's own "not found" errors: a caller learns nothing
  // about what exists beyond its policy.
  auto not_found = [&](std::string_view what) {
    ++stats_.forbidden;
    ctx.reply.status = 200;
    ctx.reply.code = jsonrpc::invalid_params;
    ctx.reply.message = std::string(what) + " " + std::string(ctx.name) + " not found";
    return filter_status::stop;
  };
  if (ctx.method == "tools/call") {
    if (!policy->may_call_tool(ctx.name)) {
      return not_found("Tool");
    }
    if (ctx.who.via == principal::method::jwt) {
      auto missing = policy->missing_scopes(ctx.name, ctx.who.scopes);
      if (!missing.empty()) {
        ++stats_.forbidden;
        auto needed = policy->missing_scopes(ctx.name, {});
        std::string description = "calling this tool needs scope " + join(missing, " ");
        ctx.reply.status = 403;
        ctx.reply.code = jsonrpc::forbidden;
        ctx.reply.message = description;
        std::string challenge_value =
            "Bearer error=\"insufficient_scope\", scope=" + quoted(join(needed, " "));
        if (std::string url = metadata_url(ctx.route); !url.empty()) {
          challenge_value += ", resource_metadata=" + quoted(url);
        }
        challenge_value += ", error_description=" + quoted(description);
        ctx.reply.headers.push_back({"WWW-Authenticate", std::move(challenge_value)});
        return filter_status::stop;
      }
    }
  } else if (ctx.method == "prompts/get") {
    if (!policy->may_get_prompt(ctx.name)) {
      return not_found("Prompt");
    }
  } else if (ctx.method == "resources/read" || ctx.method == "resources/subscribe" ||
             ctx.method == "resources/unsubscribe") {
    if (!policy->may_read_resource(ctx.name)) {
      return not_found("Resource");
    }
  }
  return filter_status::next;
}

void auth_filter::on_response(response_context& ctx) {
  if (ctx.kind != jsonrpc::message_kind::result) {
    return;
  }
  if (const tenant_policy* policy = policy_of(ctx.who)) {
    if (auto filtered = policy->filter_list(ctx.method, ctx.body)) {
      ctx.body = std::move(*filtered);
      ++stats_.lists_filtered;
    }
  }
}

std::vector<filter::endpoint> auth_filter::endpoints() const {
  std::vector<endpoint> out;
  if (config_.resource.empty() || config_.authorization_servers.empty()) {
    return out;
  }
  auto document = [&](const std::string& resource) {
    std::string body = "{\"resource\":" + jsonrpc::quote(resource) + ",\"authorization_servers\":[";
    for (std::size_t i = 0; i < config_.authorization_servers.size(); ++i) {
      body += i ? "," : "";
      body += jsonrpc::quote(config_.authorization_servers[i]);
    }
    body += "],\"bearer_methods_supported\":[\"header\"]";
    if (!config_.scopes_supported.empty()) {
      body += ",\"scopes_supported\":[";
      for (std::size_t i = 0; i < config_.scopes_supported.size(); ++i) {
        body += i ? "," : "";
        body += jsonrpc::quote(config_.scopes_supported[i]);
      }
      body += "]";
    }
    return body + ",\"resource_name\":\"mcpgw\"}";
  };
  out.push_back({std::string(metadata_prefix), "application/json", document(config_.resource)});
  for (const auto& r : gateway_.routes) {
    if (r.path != "/") {
      out.push_back({std::string(metadata_prefix) + r.path, "application/json",
                     document(config_.origin + r.path)});
    }
  }
  return out;
}

}  // namespace mcpgw::plugins
