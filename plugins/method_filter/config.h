// Settings of the method_filter example plugin: which client methods the gateway refuses.
// Parsed once from `filters: [{ method_filter: { deny: [...] } }]`; immutable afterwards.
#pragma once

#include "mcpgw/filter.h"

#include <memory>
#include <string>
#include <vector>

namespace mcpgw::plugins {

struct method_filter_config {
  std::vector<std::string> deny;  // method globs, like "resources/*"
  std::string message = "method is disabled on this gateway";
};

std::shared_ptr<const filter_factory> parse_method_filter(config_detail::parser& p,
                                                          const config_detail::field& at);

}  // namespace mcpgw::plugins
