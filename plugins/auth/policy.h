// A tenant's policy as a sans-I/O decision: which routes, backends, tools, prompts and
// resources it may use, which token scopes a tool needs, and list results cut down to what
// the tenant may call. The auth filter asks; unit tests drive it directly.
#pragma once

#include "mcpgw/config.h"

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::plugins {

class tenant_policy {
 public:
  explicit tenant_policy(const tenant_config& tenant) : tenant_(tenant) {}

  bool may_use_route(std::string_view path) const;
  bool may_use_backend(std::string_view backend) const;
  bool may_call_tool(std::string_view name) const;
  bool may_get_prompt(std::string_view name) const;
  bool may_read_resource(std::string_view uri) const;

  // The scopes a call to `tool` needs that `granted` lacks, in config order (empty: none).
  std::vector<std::string> missing_scopes(std::string_view tool,
                                          std::span<const std::string> granted) const;
  // Every scope some rule of this tenant names.
  std::vector<std::string> all_scopes() const;

  // A list result (tools/list, prompts/list, resources/list, resources/templates/list) with
  // the entries the tenant may not use removed; nullopt when `method` is not a list or
  // nothing had to go (the body is then passed on untouched).
  std::optional<std::string> filter_list(std::string_view method, std::string_view body) const;

 private:
  const tenant_config& tenant_;
};

// A JSON-RPC response with the entries of result.<array_key> whose <name_key> fails `keep`
// removed, re-serialized; nullopt when the body is not such a response or nothing was removed.
std::optional<std::string> filter_list_result(std::string_view body, std::string_view array_key,
                                              std::string_view name_key,
                                              const std::function<bool(std::string_view)>& keep);

}  // namespace mcpgw::plugins
