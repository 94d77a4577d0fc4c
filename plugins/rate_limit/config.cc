#include "rate_limit/config.h"

#include "rate_limit/rate_limit_filter.h"

#include "config/parser.h"

#include <array>

namespace mcpgw::plugins::rate_limit {
namespace {

constexpr std::array<std::string_view, 3> top_keys{"store", "on_store_error", "rules"};
constexpr std::array<std::string_view, 6> rule_keys{"match", "key",   "limit",
                                                    "per",   "burst", "concurrency"};
constexpr std::array<std::string_view, 6> match_keys{"tenant",  "principal", "route",
                                                     "backend", "method",    "tool"};
constexpr std::array<std::string_view, 7> key_names{"tenant",  "principal", "session", "route",
                                                    "backend", "tool",      "global"};

class factory final : public filter_factory {
 public:
  explicit factory(rate_limit_config config) : config_(std::move(config)) {}
  void check(const gateway_config& config, std::vector<config_error>& errors) const override {
    if (config_.store == store_kind::redis && config.session_store.type != "redis") {
      errors.push_back({config.source, config_.store_line, config_.store_path,
                        "store: redis counts in the session store's Redis, but session_store "
                        "is " +
                            quote_value(config.session_store.type) +
                            "; set session_store: { type: redis, url: ... } or use store: local"});
    }
  }
  std::unique_ptr<filter> create(const filter_services& services) const override {
    // Local rates and in-flight limits hold for the process: the workers' filters share counts.
    std::shared_ptr<rate_limit_filter::counts> shared;
    if (services.shared != nullptr) {
      shared = services.shared->get_or_make<rate_limit_filter::counts>(
          this, [&] { return new rate_limit_filter::counts(config_); });
    }
    auto f = std::make_unique<rate_limit_filter>(
        config_, services.log,
        config_.store == store_kind::redis ? services.redis : std::shared_ptr<redis_client>(),
        services.config.session_store.key_prefix, std::move(shared));
    if (services.stats != nullptr) {
      f->count_into(*services.stats);
    }
    return f;
  }

 private:
  rate_limit_config config_;
};

}  // namespace

std::string_view to_string(key_kind key) { return key_names[static_cast<std::size_t>(key)]; }

std::shared_ptr<const filter_factory> parse_rate_limit(config_detail::parser& p,
                                                       const config_detail::field& at) {
  const auto map = p.read_map(at, top_keys, "a map like { store: local, rules: [...] }");
  if (!map) {
    return nullptr;
  }
  rate_limit_config out;
  if (const auto* store = map->get("store")) {
    auto text = p.read_scalar(*store, "local or redis");
    if (text && *text == "redis") {
      out.store = store_kind::redis;
      out.store_line = store->line;
      out.store_path = store->path;
    } else if (text && *text != "local") {
      p.error(*store, "expected local or redis, got " + quote_value(*text));
    }
  }
  if (const auto* on_error = map->get("on_store_error")) {
    auto text = p.read_scalar(*on_error, "local or deny");
    if (text && *text == "deny") {
      out.on_store_error = store_error_policy::deny;
    } else if (text && *text != "local") {
      p.error(*on_error, "expected local or deny, got " + quote_value(*text));
    }
  }
  const auto* rules_at = map->get("rules");
  if (rules_at == nullptr) {
    p.missing(*map, "rules",
              "expected at least one rule, like { match: { method: tools/call }, "
              "limit: 100, per: 1m }");
    return nullptr;
  }
  auto items = p.read_list(*rules_at, "a list of rules");
  if (!items) {
    return nullptr;
  }
  for (std::size_t index = 0; index < items->size(); ++index) {
    const auto& item = (*items)[index];
    const auto rule =
        p.read_map(item, rule_keys, "a rule like { match: {...}, limit: 100, per: 1m }");
    if (!rule) {
      continue;
    }
    rule_config r;
    r.line = item.line;
    r.name = "rules[" + std::to_string(index) + "]";
    if (const auto* m = rule->get("match")) {
      if (const auto mm =
              p.read_map(*m, match_keys, "a map like { tenant: acme, method: tools/call }")) {
        auto glob = [&](std::string_view key, std::string& into) {
          if (const auto* f = mm->get(key)) {
            into = p.read_scalar(*f, "a name or glob").value_or("");
          }
        };
        glob("tenant", r.match.tenant);
        glob("principal", r.match.principal);
        glob("route", r.match.route);
        glob("backend", r.match.backend);
        glob("method", r.match.method);
        glob("tool", r.match.tool);
      }
    }
    if (const auto* key = rule->get("key")) {
      auto text = p.read_scalar(*key, "what to count per");
      bool known = false;
      for (std::size_t i = 0; text && i < key_names.size(); ++i) {
        if (*text == key_names[i]) {
          r.key = static_cast<key_kind>(i);
          known = true;
        }
      }
      if (text && !known) {
        p.error(*key, "expected one of " + config_detail::join(key_names) + ", got " +
                          quote_value(*text));
      }
    }
    const auto* limit = rule->get("limit");
    const auto* per = rule->get("per");
    const auto* burst = rule->get("burst");
    if (const auto* c = rule->get("concurrency")) {
      p.read_size(*c, r.concurrency, value_kind::count);
    }
    if (limit != nullptr || per != nullptr) {
      bucket_rule b;
      std::size_t n = 0;
      if (limit == nullptr || per == nullptr) {
        p.missing(*rule, limit == nullptr ? "limit" : "per",
                  "a rate needs both limit and per, like limit: 100, per: 1m");
        continue;
      }
      p.read_size(*limit, n, value_kind::count);
      duration window{0};
      p.read_duration(*per, window, config_detail::zero_policy::reject);
      r.per_text = per->node.IsScalar() ? per->node.Scalar() : "";
      b.limit = static_cast<double>(n);
      b.per = window;
      std::size_t burst_n = n;
      if (burst != nullptr) {
        p.read_size(*burst, burst_n, value_kind::count);
      }
      b.burst = static_cast<double>(burst_n);
      if (n > 0 && window.count() > 0 && burst_n > 0) {
        r.rate = b;
      }
    } else if (burst != nullptr) {
      p.error(*burst, "burst belongs to a rate: add limit and per");
    }
    if (!r.rate && r.concurrency == 0 && limit == nullptr) {
      p.error(item, "a rule needs limit and per (a rate), or concurrency (calls in flight)");
      continue;
    }
    out.rules.push_back(std::move(r));
  }
  return std::make_shared<factory>(std::move(out));
}

}  // namespace mcpgw::plugins::rate_limit
