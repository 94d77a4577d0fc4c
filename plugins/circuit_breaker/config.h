// Settings of the circuit_breaker filter: what trips a backend's breaker (consecutive
// failures, or a failure ratio over a window) and how it recovers (open_for, then
// half_open_probes). Parsed once from `filters: [{ circuit_breaker: { ... } }]`.
#pragma once

#include "circuit_breaker/breaker.h"

#include "mcpgw/filter.h"

#include <memory>

namespace mcpgw::plugins::circuit_breaker {

struct breaker_config {
  breaker_settings settings;
};

std::shared_ptr<const filter_factory> parse_circuit_breaker(config_detail::parser& p,
                                                            const config_detail::field& at);

}  // namespace mcpgw::plugins::circuit_breaker
