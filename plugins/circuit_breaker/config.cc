#include "circuit_breaker/config.h"

#include "circuit_breaker/circuit_breaker_filter.h"

#include "config/parser.h"

#include <array>
#include <charconv>

namespace mcpgw::plugins::circuit_breaker {
namespace {

constexpr std::array<std::string_view, 6> keys{
    "consecutive_failures", "failure_ratio", "window", "min_calls", "open_for", "half_open_probes"};

class factory final : public filter_factory {
 public:
  explicit factory(breaker_config config) : config_(config) {}
  std::unique_ptr<filter> create(const filter_services& services) const override {
    auto f = std::make_unique<circuit_breaker_filter>(config_, services.log);
    if (services.stats != nullptr) {
      f->count_into(*services.stats);
    }
    return f;
  }

 private:
  breaker_config config_;
};

}  // namespace

std::shared_ptr<const filter_factory> parse_circuit_breaker(config_detail::parser& p,
                                                            const config_detail::field& at) {
  breaker_config out;
  if (at.node.IsNull()) {
    return std::make_shared<factory>(out);  // `- circuit_breaker:`: the defaults
  }
  const auto map = p.read_map(at, keys, "a map like { consecutive_failures: 5, open_for: 30s }");
  if (!map) {
    return nullptr;
  }
  breaker_settings& s = out.settings;
  if (const auto* n = map->get("consecutive_failures")) {
    s.consecutive_failures = p.read_count(*n).value_or(s.consecutive_failures);
  }
  if (const auto* ratio = map->get("failure_ratio")) {
    auto text = p.read_scalar(*ratio, "a number between 0 and 1, like 0.5");
    double value = -1;
    if (text) {
      auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
      if (ec != std::errc() || ptr != text->data() + text->size() || value < 0 || value > 1) {
        p.error(*ratio, "expected a number between 0 and 1, like 0.5, got " + quote_value(*text));
      } else {
        s.failure_ratio = value;
      }
    }
  }
  if (const auto* window = map->get("window")) {
    duration d{};
    p.read_duration(*window, d, config_detail::zero_policy::reject);
    s.window = d;
  }
  if (const auto* n = map->get("min_calls")) {
    p.read_size(*n, s.min_calls, value_kind::count);
  }
  if (const auto* open = map->get("open_for")) {
    duration d{};
    p.read_duration(*open, d, config_detail::zero_policy::reject);
    s.open_for = d;
  }
  if (const auto* probes = map->get("half_open_probes")) {
    p.read_size(*probes, s.half_open_probes, value_kind::count);
  }
  if (s.consecutive_failures == 0 && s.failure_ratio == 0) {
    p.error(at,
            "nothing would ever trip the breaker: set consecutive_failures (> 0) or "
            "failure_ratio");
  }
  return std::make_shared<factory>(out);
}

}  // namespace mcpgw::plugins::circuit_breaker
