#include "rate_limit/rate_limit_filter.h"

#include "mcpgw/glob.h"
#include "mcpgw/jsonrpc.h"

#include <cmath>
#include <cstdio>

namespace mcpgw::plugins::rate_limit {
namespace {

bool glob_ok(const std::string& pattern, std::string_view value) {
  return pattern.empty() || glob_match(pattern, value);
}

std::string seconds(std::chrono::milliseconds ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms.count()) / 1000.0);
  return buf;
}

std::string held_key(std::string_view session, std::string_view id) {
  std::string key;
  key.reserve(session.size() + 1 + id.size());
  key += session;
  key += '\n';
  key += id;
  return key;
}

}  // namespace

rate_limit_filter::counts::counts(const rate_limit_config& config)
    : in_flight(config.rules.size()) {
  for (const auto& r : config.rules) {
    buckets.emplace_back(r.rate.value_or(bucket_rule{}));
  }
}

rate_limit_filter::rate_limit_filter(rate_limit_config config, logger& log,
                                     std::shared_ptr<redis_client> redis, std::string key_prefix,
                                     std::shared_ptr<counts> shared)
    : config_(std::move(config)),
      log_(log),
      counts_(shared ? shared : std::make_shared<counts>(config_)),
      locked_(shared != nullptr) {
  now_ = [] { return std::chrono::steady_clock::now(); };
  if (redis) {
    global_ = std::make_unique<global_buckets>(std::move(redis), std::move(key_prefix));
  }
}

bool rate_limit_filter::matches(const rule_config& r, const facts& f) const {
  const match_rule& m = r.match;
  if (!m.tool.empty() && f.method != "tools/call") {
    return false;
  }
  return glob_ok(m.tenant, f.tenant) && glob_ok(m.principal, f.principal) &&
         glob_ok(m.route, f.route) && glob_ok(m.backend, f.backend) &&
         glob_ok(m.method, f.method) && glob_ok(m.tool, f.tool);
}

std::string rate_limit_filter::key_of(const rule_config& r, const facts& f) const {
  switch (r.key) {
    case key_kind::tenant:
      return std::string(f.tenant);
    case key_kind::principal:
      return std::string(f.tenant) + "\n" + std::string(f.principal);
    case key_kind::session:
      return std::string(f.session);
    case key_kind::route:
      return std::string(f.route);
    case key_kind::backend:
      return std::string(f.backend);
    case key_kind::tool:
      return std::string(f.tool);
    case key_kind::global:
      break;
  }
  return {};
}

std::size_t rate_limit_filter::in_flight(std::size_t rule, std::string_view key) const {
  const auto lock = lock_counts();
  const auto& in_flight = counts_->in_flight.at(rule);
  auto it = in_flight.find(std::string(key));
  return it == in_flight.end() ? 0 : it->second;
}

rate_limit_filter::draws rate_limit_filter::http_draws(const facts& f) const {
  draws d;
  for (std::size_t i = 0; i < config_.rules.size(); ++i) {
    const rule_config& r = config_.rules[i];
    if (!r.counts_calls() && r.rate && matches(r, f)) {
      d.emplace_back(i, key_of(r, f));
    }
  }
  return d;
}

bool rate_limit_filter::take_local(const draws& d, std::size_t& refused,
                                   std::chrono::milliseconds& retry) {
  const time_point now = now_();
  const auto lock = lock_counts();
  for (std::size_t i = 0; i < d.size(); ++i) {
    decision taken = counts_->buckets[d[i].first].take(d[i].second, now);
    if (!taken.allowed) {
      refused = i;
      retry = taken.retry_after;
      return false;
    }
  }
  return true;
}

net::awaitable<bool> rate_limit_filter::take_global(const draws& d, std::size_t& refused,
                                                    std::chrono::milliseconds& retry,
                                                    bool& unavailable) {
  std::vector<global_draw> wanted;
  wanted.reserve(d.size());
  for (const auto& [rule, key] : d) {
    wanted.push_back(
        {global_->bucket_key(config_.rules[rule].name, key), *config_.rules[rule].rate});
  }
  global_decision decided = co_await global_->take(wanted);
  if (decided.result == global_decision::outcome::allowed) {
    co_return true;
  }
  if (decided.result == global_decision::outcome::refused) {
    refused = decided.refused;
    retry = decided.retry_after;
    co_return false;
  }
  ++stats_.store_errors;
  if (stats_.store_errors == 1 || stats_.store_errors % 1000 == 0) {
    log_.warn(
        "rate-limit store unavailable",
        {{"error", decided.error},
         {"on_store_error", config_.on_store_error == store_error_policy::deny ? "deny" : "local"},
         {"count", std::to_string(stats_.store_errors)}});
  }
  if (config_.on_store_error == store_error_policy::deny) {
    ++stats_.store_denied;
    unavailable = true;
    co_return false;
  }
  co_return take_local(d, refused, retry);
}

void rate_limit_filter::count_into(metrics& m) {
  for (const auto& r : config_.rules) {
    rejections_.push_back(
        {&m.rate_limit_rejections.Add({{"rule", r.name}, {"reason", "rate"}}),
         &m.rate_limit_rejections.Add({{"rule", r.name}, {"reason", "concurrency"}})});
  }
  store_rejections_ =
      &m.rate_limit_rejections.Add({{"rule", "(store)"}, {"reason", "store_unavailable"}});
}

void rate_limit_filter::refuse_http(http_context& ctx, std::size_t rule,
                                    std::chrono::milliseconds retry) {
  const rule_config& r = config_.rules[rule];
  ++stats_.http_limited;
  if (!rejections_.empty()) {
    rejections_[rule][0]->Increment();
  }
  const auto limit = static_cast<long long>(r.rate->limit);
  const auto window_s = std::max<long long>(1, r.rate->per.count() / 1000);
  const auto retry_s = std::max<long long>(1, (retry.count() + 999) / 1000);
  ctx.reply.status = 429;
  ctx.reply.code = jsonrpc::rate_limited;
  ctx.reply.message = "rate limit " + r.name + " (" + std::to_string(limit) + " requests per " +
                      r.per_text + " per " + std::string(to_string(r.key)) +
                      ") exceeded; retry after " + seconds(retry);
  ctx.reply.headers.push_back({"Retry-After", std::to_string(retry_s)});
  ctx.reply.headers.push_back({"RateLimit-Policy", "\"" + r.name + "\";q=" + std::to_string(limit) +
                                                       ";w=" + std::to_string(window_s)});
  ctx.reply.headers.push_back({"RateLimit", "\"" + r.name + "\";r=0;t=" + std::to_string(retry_s)});
}

void rate_limit_filter::refuse_unavailable(local_reply& reply) {
  if (store_rejections_ != nullptr) {
    store_rejections_->Increment();
  }
  reply.code = jsonrpc::rate_limited;
  reply.message =
      "the rate-limit store (Redis) is unavailable and on_store_error is deny; retry shortly";
  reply.headers.push_back({"Retry-After", "1"});
}

filter_status rate_limit_filter::check_http(http_context& ctx) {
  const facts f{ctx.who.tenant, ctx.who.subject, {}, ctx.route, ctx.backend, {}, {}};
  draws d = http_draws(f);
  std::size_t refused = 0;
  std::chrono::milliseconds retry{0};
  if (d.empty() || take_local(d, refused, retry)) {
    return filter_status::next;
  }
  refuse_http(ctx, d[refused].first, retry);
  return filter_status::stop;
}

void rate_limit_filter::release(std::vector<std::pair<std::size_t, std::string>>& slots) {
  const auto lock = lock_counts();
  release_locked(slots);
}

void rate_limit_filter::release_locked(std::vector<std::pair<std::size_t, std::string>>& slots) {
  for (const auto& [rule, key] : slots) {
    auto& in_flight = counts_->in_flight[rule];
    auto slot = in_flight.find(key);
    if (slot != in_flight.end() && --slot->second == 0) {
      in_flight.erase(slot);
    }
  }
  slots.clear();
}

filter_status rate_limit_filter::begin_call(message_context& ctx, const facts& f,
                                            std::vector<std::pair<std::size_t, std::string>>& slots,
                                            draws& rates) {
  for (std::size_t i = 0; i < config_.rules.size(); ++i) {
    const rule_config& r = config_.rules[i];
    if (!r.counts_calls() || !matches(r, f)) {
      continue;
    }
    std::string key = key_of(r, f);
    if (r.concurrency > 0) {
      const auto lock = lock_counts();
      auto& in_flight = counts_->in_flight[i];
      std::size_t& n = in_flight[key];
      if (n >= r.concurrency) {
        if (n == 0) {
          in_flight.erase(key);
        }
        release_locked(slots);
        ++stats_.concurrency;
        if (!rejections_.empty()) {
          rejections_[i][1]->Increment();
        }
        ctx.reply.code = jsonrpc::rate_limited;
        ctx.reply.message = "concurrency limit " + r.name + " (" + std::to_string(r.concurrency) +
                            " calls in flight per " + std::string(to_string(r.key)) +
                            ") reached; retry when one of them has finished";
        return filter_status::stop;
      }
      ++n;
      slots.emplace_back(i, key);
    }
    if (r.rate) {
      rates.emplace_back(i, std::move(key));
    }
  }
  return filter_status::next;
}

void rate_limit_filter::refuse_call(message_context& ctx, std::size_t rule,
                                    std::chrono::milliseconds retry) {
  const rule_config& r = config_.rules[rule];
  ++stats_.limited;
  if (!rejections_.empty()) {
    rejections_[rule][0]->Increment();
  }
  ctx.reply.code = jsonrpc::rate_limited;
  ctx.reply.message = "rate limit " + r.name + " (" +
                      std::to_string(static_cast<long long>(r.rate->limit)) + " " +
                      (r.match.method.empty() && r.match.tool.empty() ? std::string("calls")
                                                                      : std::string(ctx.method)) +
                      " per " + r.per_text + " per " + std::string(to_string(r.key)) +
                      ") exceeded; retry after " + seconds(retry);
}

rate_limit_filter::facts rate_limit_filter::call_facts(const message_context& ctx) {
  const std::string_view tool = ctx.method == "tools/call" ? ctx.name : std::string_view();
  return facts{
      ctx.who.tenant, ctx.who.subject, ctx.session_id, ctx.route, ctx.backend, ctx.method, tool};
}

void rate_limit_filter::hold(const message_context& ctx,
                             std::vector<std::pair<std::size_t, std::string>>& slots) {
  if (!slots.empty()) {
    held_[held_key(ctx.session_id, ctx.id)] = std::move(slots);
  }
}

filter_status rate_limit_filter::check_call(message_context& ctx) {
  if (ctx.kind != jsonrpc::message_kind::request) {
    return filter_status::next;
  }
  const facts f = call_facts(ctx);
  std::vector<std::pair<std::size_t, std::string>> slots;
  draws rates;
  if (begin_call(ctx, f, slots, rates) == filter_status::stop) {
    return filter_status::stop;
  }
  std::size_t refused = 0;
  std::chrono::milliseconds retry{0};
  if (!rates.empty() && !take_local(rates, refused, retry)) {
    release(slots);
    refuse_call(ctx, rates[refused].first, retry);
    return filter_status::stop;
  }
  hold(ctx, slots);
  return filter_status::next;
}

std::optional<filter_status> rate_limit_filter::try_http(http_context& ctx) {
  if (!global_) {
    return check_http(ctx);
  }
  return std::nullopt;
}

std::optional<filter_status> rate_limit_filter::try_request(message_context& ctx) {
  if (!global_) {
    return check_call(ctx);
  }
  return std::nullopt;
}

net::awaitable<filter_status> rate_limit_filter::on_http(http_context& ctx) {
  if (!global_) {
    co_return check_http(ctx);
  }
  const facts f{ctx.who.tenant, ctx.who.subject, {}, ctx.route, ctx.backend, {}, {}};
  draws d = http_draws(f);
  if (d.empty()) {
    co_return filter_status::next;
  }
  std::size_t refused = 0;
  std::chrono::milliseconds retry{0};
  bool unavailable = false;
  const bool allowed = co_await take_global(d, refused, retry, unavailable);
  if (allowed) {
    co_return filter_status::next;
  }
  if (unavailable) {
    ctx.reply.status = 503;
    refuse_unavailable(ctx.reply);
  } else {
    refuse_http(ctx, d[refused].first, retry);
  }
  co_return filter_status::stop;
}

net::awaitable<filter_status> rate_limit_filter::on_request(message_context& ctx) {
  if (!global_) {
    co_return check_call(ctx);
  }
  if (ctx.kind != jsonrpc::message_kind::request) {
    co_return filter_status::next;
  }
  const facts f = call_facts(ctx);
  std::vector<std::pair<std::size_t, std::string>> slots;
  draws rates;
  if (begin_call(ctx, f, slots, rates) == filter_status::stop) {
    co_return filter_status::stop;
  }
  // The slots are held while Redis answers: a concurrent call of the same key sees them.
  std::size_t refused = 0;
  std::chrono::milliseconds retry{0};
  bool unavailable = false;
  bool allowed = true;
  if (!rates.empty()) {
    allowed = co_await take_global(rates, refused, retry, unavailable);
  }
  if (!allowed) {
    release(slots);
    if (unavailable) {
      refuse_unavailable(ctx.reply);
    } else {
      refuse_call(ctx, rates[refused].first, retry);
    }
    co_return filter_status::stop;
  }
  hold(ctx, slots);
  co_return filter_status::next;
}

void rate_limit_filter::on_complete(const request_record& record) {
  if (held_.empty()) {
    return;  // no concurrency rule holds a slot (the common case: no key to build)
  }
  auto it = held_.find(held_key(record.session_id, record.client_id));
  if (it == held_.end()) {
    return;
  }
  release(it->second);
  held_.erase(it);
}

}  // namespace mcpgw::plugins::rate_limit
