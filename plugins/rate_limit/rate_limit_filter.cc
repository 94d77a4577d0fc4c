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
  std::string key(session);
  key += '\n';
  key += id;
  return key;
}

}  // namespace

rate_limit_filter::rate_limit_filter(rate_limit_config config, logger& log)
    : config_(std::move(config)), log_(log), in_flight_(config_.rules.size()) {
  for (const auto& r : config_.rules) {
    buckets_.emplace_back(r.rate.value_or(bucket_rule{}));
  }
  now_ = [] { return std::chrono::steady_clock::now(); };
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
  auto it = in_flight_.at(rule).find(std::string(key));
  return it == in_flight_[rule].end() ? 0 : it->second;
}

filter_status rate_limit_filter::check_http(http_context& ctx) {
  const facts f{ctx.who.tenant, ctx.who.subject, {}, ctx.route, ctx.backend, {}, {}};
  for (std::size_t i = 0; i < config_.rules.size(); ++i) {
    const rule_config& r = config_.rules[i];
    if (r.counts_calls() || !r.rate || !matches(r, f)) {
      continue;
    }
    decision d = buckets_[i].take(key_of(r, f), now_());
    if (d.allowed) {
      continue;
    }
    ++stats_.http_limited;
    const auto limit = static_cast<long long>(r.rate->limit);
    const auto window_s = std::max<long long>(1, r.rate->per.count() / 1000);
    const auto retry_s = std::max<long long>(1, (d.retry_after.count() + 999) / 1000);
    ctx.reply.status = 429;
    ctx.reply.code = jsonrpc::rate_limited;
    ctx.reply.message = "rate limit " + r.name + " (" + std::to_string(limit) + " requests per " +
                        r.per_text + " per " + std::string(to_string(r.key)) +
                        ") exceeded; retry after " + seconds(d.retry_after);
    ctx.reply.headers.push_back({"Retry-After", std::to_string(retry_s)});
    ctx.reply.headers.push_back(
        {"RateLimit-Policy",
         "\"" + r.name + "\";q=" + std::to_string(limit) + ";w=" + std::to_string(window_s)});
    ctx.reply.headers.push_back(
        {"RateLimit", "\"" + r.name + "\";r=0;t=" + std::to_string(retry_s)});
    return filter_status::stop;
  }
  return filter_status::next;
}

filter_status rate_limit_filter::check_call(message_context& ctx) {
  if (ctx.kind != jsonrpc::message_kind::request) {
    return filter_status::next;
  }
  const std::string_view tool = ctx.method == "tools/call" ? ctx.name : std::string_view();
  const facts f{
      ctx.who.tenant, ctx.who.subject, ctx.session_id, ctx.route, ctx.backend, ctx.method, tool};
  std::vector<std::pair<std::size_t, std::string>> slots;
  auto release = [&] {
    for (const auto& [rule, key] : slots) {
      if (--in_flight_[rule][key] == 0) {
        in_flight_[rule].erase(key);
      }
    }
  };
  const time_point now = now_();
  for (std::size_t i = 0; i < config_.rules.size(); ++i) {
    const rule_config& r = config_.rules[i];
    if (!r.counts_calls() || !matches(r, f)) {
      continue;
    }
    std::string key = key_of(r, f);
    if (r.concurrency > 0) {
      std::size_t& n = in_flight_[i][key];
      if (n >= r.concurrency) {
        release();
        ++stats_.concurrency;
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
      decision d = buckets_[i].take(key, now);
      if (!d.allowed) {
        release();
        ++stats_.limited;
        ctx.reply.code = jsonrpc::rate_limited;
        ctx.reply.message =
            "rate limit " + r.name + " (" + std::to_string(static_cast<long long>(r.rate->limit)) +
            " " +
            (r.match.method.empty() && r.match.tool.empty() ? std::string("calls")
                                                            : std::string(ctx.method)) +
            " per " + r.per_text + " per " + std::string(to_string(r.key)) +
            ") exceeded; retry after " + seconds(d.retry_after);
        return filter_status::stop;
      }
    }
  }
  if (!slots.empty()) {
    held_[held_key(ctx.session_id, ctx.id)] = std::move(slots);
  }
  return filter_status::next;
}

net::awaitable<filter_status> rate_limit_filter::on_http(http_context& ctx) {
  co_return check_http(ctx);
}

net::awaitable<filter_status> rate_limit_filter::on_request(message_context& ctx) {
  co_return check_call(ctx);
}

void rate_limit_filter::on_complete(const request_record& record) {
  auto it = held_.find(held_key(record.session_id, record.client_id));
  if (it == held_.end()) {
    return;
  }
  for (const auto& [rule, key] : it->second) {
    auto slot = in_flight_[rule].find(key);
    if (slot != in_flight_[rule].end() && --slot->second == 0) {
      in_flight_[rule].erase(slot);
    }
  }
  held_.erase(it);
}

}  // namespace mcpgw::plugins::rate_limit
