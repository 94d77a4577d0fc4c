#include "auth/policy.h"

#include "mcpgw/glob.h"
#include "mcpgw/jsonrpc.h"

#include <simdjson.h>

#include <algorithm>

namespace mcpgw::plugins {
namespace {

bool permitted(const std::vector<std::string>& allow, const std::vector<std::string>& deny,
               std::string_view name) {
  return (allow.empty() || glob_match_any(allow, name)) && !glob_match_any(deny, name);
}

}  // namespace

bool tenant_policy::may_use_route(std::string_view path) const {
  return permitted(tenant_.allow.routes, tenant_.deny.routes, path);
}

bool tenant_policy::may_use_backend(std::string_view backend) const {
  return permitted(tenant_.allow.backends, tenant_.deny.backends, backend);
}

bool tenant_policy::may_call_tool(std::string_view name) const {
  return permitted(tenant_.allow.tools, tenant_.deny.tools, name);
}

bool tenant_policy::may_get_prompt(std::string_view name) const {
  return permitted(tenant_.allow.prompts, tenant_.deny.prompts, name);
}

bool tenant_policy::may_read_resource(std::string_view uri) const {
  return permitted(tenant_.allow.resources, tenant_.deny.resources, uri);
}

std::vector<std::string> tenant_policy::missing_scopes(std::string_view tool,
                                                       std::span<const std::string> granted) const {
  std::vector<std::string> missing;
  for (const auto& rule : tenant_.scopes) {
    if (!glob_match(rule.tools, tool)) {
      continue;
    }
    for (const auto& scope : rule.scopes) {
      const bool has = std::find(granted.begin(), granted.end(), scope) != granted.end();
      if (!has && std::find(missing.begin(), missing.end(), scope) == missing.end()) {
        missing.push_back(scope);
      }
    }
  }
  return missing;
}

std::vector<std::string> tenant_policy::all_scopes() const {
  std::vector<std::string> out;
  for (const auto& rule : tenant_.scopes) {
    for (const auto& scope : rule.scopes) {
      if (std::find(out.begin(), out.end(), scope) == out.end()) {
        out.push_back(scope);
      }
    }
  }
  return out;
}

std::optional<std::string> tenant_policy::filter_list(std::string_view method,
                                                      std::string_view body) const {
  const access_rules& a = tenant_.allow;
  const access_rules& d = tenant_.deny;
  if (method == "tools/list") {
    if (a.tools.empty() && d.tools.empty()) {
      return std::nullopt;
    }
    return filter_list_result(body, "tools", "name",
                              [this](std::string_view name) { return may_call_tool(name); });
  }
  if (method == "prompts/list") {
    if (a.prompts.empty() && d.prompts.empty()) {
      return std::nullopt;
    }
    return filter_list_result(body, "prompts", "name",
                              [this](std::string_view name) { return may_get_prompt(name); });
  }
  if (method == "resources/list" || method == "resources/templates/list") {
    if (a.resources.empty() && d.resources.empty()) {
      return std::nullopt;
    }
    const bool templates = method == "resources/templates/list";
    return filter_list_result(body, templates ? "resourceTemplates" : "resources",
                              templates ? "uriTemplate" : "uri",
                              [this](std::string_view uri) { return may_read_resource(uri); });
  }
  return std::nullopt;
}

std::optional<std::string> filter_list_result(std::string_view body, std::string_view array_key,
                                              std::string_view name_key,
                                              const std::function<bool(std::string_view)>& keep) {
  // A scratch parser per thread: its buffers are reused, nothing else is kept.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::padded_string padded(body);
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  simdjson::dom::object message;
  simdjson::dom::object result;
  simdjson::dom::array entries;
  if (root.get_object().get(message) != simdjson::SUCCESS ||
      message["result"].get_object().get(result) != simdjson::SUCCESS ||
      result[array_key].get_array().get(entries) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  std::string kept;
  std::size_t removed = 0;
  for (simdjson::dom::element entry : entries) {
    std::string_view name;
    // An entry without a usable name cannot be matched against a policy: it goes.
    if (entry[name_key].get_string().get(name) != simdjson::SUCCESS || !keep(name)) {
      ++removed;
      continue;
    }
    kept += kept.empty() ? "" : ",";
    kept += simdjson::to_string(entry);
  }
  if (removed == 0) {
    return std::nullopt;
  }
  std::string out = "{";
  bool first = true;
  for (auto [key, value] : message) {
    out += first ? "" : ",";
    first = false;
    out += jsonrpc::quote(key) + ":";
    if (key != "result") {
      out += simdjson::to_string(value);
      continue;
    }
    out += "{";
    bool first_field = true;
    for (auto [field, field_value] : result) {
      out += first_field ? "" : ",";
      first_field = false;
      out += jsonrpc::quote(field) + ":";
      out += field == array_key ? "[" + kept + "]" : simdjson::to_string(field_value);
    }
    out += "}";
  }
  out += "}";
  return out;
}

}  // namespace mcpgw::plugins
