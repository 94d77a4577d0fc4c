// The filters this build knows, registered explicitly (no static self-registration): main
// and the tests call this once and hand the registry to the config parser.
#pragma once

#include "mcpgw/filter.h"

namespace mcpgw::plugins {

void register_builtin_filters(filter_registry& registry);

}  // namespace mcpgw::plugins
