// Build identity and the embedded default configuration (generated from conf/gateway.yaml).
#pragma once

namespace mcpgw {

extern const char* const version;
extern const char* const embedded_config;

}  // namespace mcpgw
