// The YAML walker behind gateway.yaml: a value with its place in the document, and the parser
// that reads values and collects every error with file, line and key path. Used by
// gateway/src/config (config.cc: generic readers and top-level keys; config_backends.cc:
// backends and routes; config_tenants.cc: tenants and the filter chain) and by the plugins'
// config parsers, which get the parser and their own subtree.
#pragma once

#include "mcpgw/config.h"

#include <yaml-cpp/yaml.h>

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::config_detail {

// A value in the document together with where it is, so that every message can point at it.
struct field {
  YAML::Node node;
  std::string path;  // "backends[0].http.url"; empty for the document itself
  int line = 0;      // 1-based
};

// The keys of one YAML map, already checked against the keys that map may hold.
struct map_fields {
  field self;
  std::map<std::string, field, std::less<>> by_key;

  const field* get(std::string_view key) const {
    const auto it = by_key.find(key);
    return it == by_key.end() ? nullptr : &it->second;
  }
};

int line_of(const YAML::Node& node);
std::string child_path(const std::string& parent, std::string_view key);
std::string lower(std::string_view text);
bool contains(std::span<const std::string_view> set, std::string_view word);
void add_unique(std::vector<std::string>& to, std::string value);
// A node as messages show it: a quoted scalar, "a list", "a map" or "nothing".
std::string describe(const YAML::Node& node);
std::string join(std::span<const std::string_view> words);
std::string unknown_key_message(std::string_view key, std::span<const std::string_view> known);

// Some settings mean nothing at zero (a 0-byte body limit, a 0s timeout) and are more likely a
// slip than a wish; shutdown_grace has a sensible zero (stop at once).
enum class zero_policy { reject, allow };

class parser {
 public:
  explicit parser(std::string file, const filter_registry* filters = nullptr)
      : file_(std::move(file)), filters_(filters) {}

  gateway_config parse_document(const field& root);

  void error(int line, std::string key, std::string message) {
    errors_.push_back(config_error{file_, line, std::move(key), std::move(message)});
  }

  std::vector<config_error> take_errors() {
    // Reported in document order, whatever order the checks ran in.
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const config_error& a, const config_error& b) { return a.line < b.line; });
    return std::move(errors_);
  }
  bool has_errors() const { return !errors_.empty(); }
  const std::string& file() const { return file_; }

  // Readers for plugins and the core alike: each reports what is wrong with the value (with
  // its line and key path) and returns nothing, so one run shows every problem.
  void error(const field& at, std::string message) { error(at.line, at.path, std::move(message)); }
  void expected(const field& at, std::string_view what) {
    error(at, "expected " + std::string(what) + ", got " + describe(at.node));
  }
  void missing(const map_fields& map, std::string_view key, std::string_view why) {
    error(map.self.line, child_path(map.self.path, key), "missing; " + std::string(why));
  }

  std::optional<map_fields> read_map(const field& at, std::span<const std::string_view> known,
                                     std::string_view what);
  std::optional<std::vector<field>> read_list(const field& at, std::string_view what);
  std::optional<std::string> read_scalar(const field& at, std::string_view what);
  std::optional<std::string> read_value(const field& at, value_kind kind);

  void read_duration(const field& at, duration& out, zero_policy zero);
  void read_size(const field& at, std::size_t& out, value_kind kind);
  void read_bool(const field& at, bool& out);
  void read_file_name(const field& at, std::string& out);
  // A count where zero means something ("warm: 0"); nullopt after reporting a malformed one.
  std::optional<std::size_t> read_count(const field& at);
  // A list of non-empty strings (a single string is not a list).
  std::optional<std::vector<std::string>> read_strings(const field& at, std::string_view what);
  // A map of names to strings, in document order; values have ${VAR} expanded.
  std::optional<std::vector<std::pair<std::string, std::string>>> read_string_map(
      const field& at, std::string_view what);
  // Expands ${VAR} from the gateway's environment; reports an unset variable.
  std::optional<std::string> expand_env(const field& at, const std::string& text);

 private:
  void read_listeners(const map_fields& top, gateway_config& config);
  void read_tls(const field& at, gateway_config& config);
  void read_allowed_hosts(const map_fields& top, gateway_config& config);
  void read_allowed_origins(const field& at, gateway_config& config);
  void read_session_store(const field& at, session_store_config& out);
  void read_cluster(const field& at, gateway_config& config);
  void read_observability(const field& at, observability_config& out);
  void read_workers(const field& at, gateway_config& config);
  void read_backends(const map_fields& top, gateway_config& config);
  void read_http(const field& at, http_backend_config& out);
  void read_stdio(const field& at, stdio_backend_config& out);
  void read_stdio_command(const field& at, stdio_backend_config& out);
  void read_stdio_pool(const field& at, stdio_backend_config& out);
  void read_stdio_env(const field& at, stdio_backend_config& out);
  void read_tenant_env(const field& at, stdio_backend_config& out);
  void read_tenant_headers(const field& at, http_backend_config& out);
  void read_routes(const map_fields& top, gateway_config& config);
  void read_route_members(const field& at, route_config& out);
  void read_item_filters(const map_fields& map, item_filters& out);
  void read_name_filter(const field& at, name_filter& out);
  // Reports a name that is not one of the backends (when they could all be read).
  void check_backend_name(const field& at, const std::string& name);
  void read_limits(const field& at, limits_config& out);
  void read_tenants(const map_fields& top, gateway_config& config);
  void read_access_rules(const field& at, access_rules& out);
  void read_filters(const map_fields& top, gateway_config& config);
  void read_credential_headers(const field& at, std::vector<credential_header>& out);
  // Cross-checks once everything is read: tenant names used by backends, filters' own checks.
  void check_references(const gateway_config& config);

  std::string file_;
  const filter_registry* filters_ = nullptr;
  struct tenant_ref {
    std::string tenant;
    std::string path;
    int line = 0;
  };
  std::vector<tenant_ref> tenant_refs_;  // tenant names used by backends, checked at the end
  std::vector<config_error> errors_;
  std::map<std::string, int, std::less<>> backend_lines_;  // name -> line, for routes
  // False when a backend name could not be read: routes naming it would only repeat that error.
  bool backend_names_complete_ = true;
  const field* lone_health_check_ = nullptr;  // http.health_check of a backend without urls
};

}  // namespace mcpgw::config_detail
