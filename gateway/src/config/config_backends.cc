// backends[] and routes[] of gateway.yaml: HTTP and stdio backends, and the routes that name
// them.
#include "config/parser.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <unistd.h>

namespace mcpgw::config_detail {
namespace {

constexpr std::array<std::string_view, 5> backend_keys{"name", "http", "sse", "stdio", "required"};
constexpr std::array<std::string_view, 7> stdio_keys{"command", "env",     "tenant_env",      "cwd",
                                                     "pool",    "timeout", "shutdown_timeout"};
constexpr std::array<std::string_view, 2> pool_keys{"warm", "max"};

bool valid_env_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool is_executable(const std::filesystem::path& file) {
  std::error_code ec;
  return std::filesystem::is_regular_file(file, ec) && ::access(file.c_str(), X_OK) == 0;
}

// Where the gateway will find the program: as given when it has a '/', else the first PATH
// entry that holds it. Empty when there is none.
std::string locate_program(const std::string& program, const std::string& cwd) {
  if (program.find('/') != std::string::npos) {
    std::filesystem::path file(program);
    if (file.is_relative() && !cwd.empty()) {
      file = std::filesystem::path(cwd) / file;
    }
    return is_executable(file) ? file.string() : std::string();
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    std::size_t colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    std::filesystem::path file =
        std::filesystem::path(dir.empty() ? "." : std::string(dir)) / program;
    if (is_executable(file)) {
      return file.string();
    }
  }
  return {};
}
constexpr std::array<std::string_view, 12> http_keys{
    "url",          "urls",           "balance",
    "health_check", "timeout",        "connect_timeout",
    "tls_verify",   "ca_file",        "max_idle_connections",
    "headers",      "tenant_headers", "retry"};
constexpr std::array<std::string_view, 3> health_keys{"interval", "timeout", "unhealthy_after"};
constexpr std::array<std::string_view, 3> retry_keys{"attempts", "backoff", "tools_call"};
constexpr std::array<std::string_view, 9> route_keys{
    "path",      "backend",           "backends",     "tools",          "prompts",
    "resources", "upstream_sessions", "list_timeout", "rejoin_interval"};
constexpr std::array<std::string_view, 6> member_keys{"name",  "prefix",  "separator",
                                                      "tools", "prompts", "resources"};
constexpr std::array<std::string_view, 2> name_filter_keys{"include", "exclude"};

// Characters MCP allows in tool names (SEP-986), and so in prefixes and separators.
bool tool_name_chars(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
  });
}

// The prefix as the first part of a URI scheme: lower case, '_' (not allowed there) as '-'.
std::string uri_scheme_prefix(std::string_view prefix) {
  std::string out;
  for (char c : prefix) {
    out.push_back(c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

}  // namespace

void parser::read_backends(const map_fields& top, gateway_config& config) {
  const field* at = top.get("backends");
  if (at == nullptr) {
    missing(top, "backends", "at least one backend is required");
  }
  const auto items = at == nullptr ? std::nullopt : read_list(*at, "a list of backends");
  if (!items) {
    backend_names_complete_ = false;
    return;
  }
  if (items->empty()) {
    error(*at, "expected at least one backend, got an empty list");
  }
  for (const field& item : *items) {
    const auto backend =
        read_map(item, backend_keys, "a backend map with name and http, sse or stdio");
    if (!backend) {
      backend_names_complete_ = false;
      continue;
    }
    backend_config out;
    const field* name_at = backend->get("name");
    // Names show up in logs, metrics labels and route references: value_kind::name keeps them
    // plain.
    auto name = name_at == nullptr ? std::nullopt : read_value(*name_at, value_kind::name);
    backend_names_complete_ = backend_names_complete_ && name.has_value();
    if (name_at == nullptr) {
      missing(*backend, "name", "every backend needs a unique name");
    } else if (name) {
      const auto [first, inserted] = backend_lines_.emplace(*name, name_at->line);
      if (!inserted) {
        error(*name_at, "duplicate backend name " + quote_value(*name) + "; the first is on line " +
                            std::to_string(first->second));
      }
      out.name = std::move(*name);
    }
    if (const field* required = backend->get("required")) {
      read_bool(*required, out.required);
    }
    const field* http = backend->get("http");
    const field* sse = backend->get("sse");
    const field* stdio = backend->get("stdio");
    const int kinds = (http != nullptr) + (sse != nullptr) + (stdio != nullptr);
    if (kinds > 1) {
      error(stdio != nullptr ? *stdio : *sse,
            "a backend is one of http, sse or stdio, not several; split it into several "
            "backends");
    } else if (http != nullptr) {
      lone_health_check_ = nullptr;
      read_http(*http, out.http);
      if (lone_health_check_ != nullptr && !out.required) {
        error(*lone_health_check_,
              "health checks watch replicas: list them in urls, or mark the backend "
              "required: true (/readyz then follows its probe)");
      }
    } else if (sse != nullptr) {
      out.kind = backend_kind::sse;
      lone_health_check_ = nullptr;
      read_http(*sse, out.http);
      if (lone_health_check_ != nullptr && !out.required) {
        error(*lone_health_check_,
              "health checks watch replicas: an sse backend has one; mark it required: true "
              "for /readyz to follow its probe");
      }
      if (!out.http.urls.empty()) {
        error(*sse, "replicas (urls) are for Streamable HTTP backends; an sse backend has one url");
      }
    } else if (stdio != nullptr) {
      out.kind = backend_kind::stdio;
      read_stdio(*stdio, out.stdio);
    } else {
      missing(*backend, "http",
              "expected http: { url: http://host:port/path }, sse: { url: http://host:port/sse } "
              "or stdio: { command: [...] }");
    }
    config.backends.push_back(std::move(out));
  }
}

void parser::read_http(const field& at, http_backend_config& out) {
  const auto http = read_map(at, http_keys, "a map like { url: http://127.0.0.1:3311/mcp }");
  if (!http) {
    return;
  }
  const field* url = http->get("url");
  const field* urls = http->get("urls");
  if (url != nullptr && urls != nullptr) {
    error(*urls, "a backend has url (one server) or urls (replicas), not both");
  } else if (url != nullptr) {
    out.url = read_value(*url, value_kind::http_url).value_or("");
  } else if (urls != nullptr) {
    if (const auto items = read_list(*urls, "a list of URLs of replicas of one MCP server")) {
      if (items->empty()) {
        error(*urls, "expected at least one URL");
      }
      for (const auto& item : *items) {
        const auto text = read_value(item, value_kind::http_url);
        if (!text) {
          continue;
        }
        if (std::find(out.urls.begin(), out.urls.end(), *text) != out.urls.end()) {
          error(item, "duplicate replica URL " + quote_value(*text));
          continue;
        }
        out.urls.push_back(*text);
      }
      if (!out.urls.empty()) {
        out.url = out.urls.front();
      }
    }
  } else {
    missing(*http, "url", "expected " + std::string(value_expectation(value_kind::http_url)));
  }
  if (const field* balance = http->get("balance")) {
    if (const auto text = read_scalar(*balance, "a balance policy")) {
      if (*text == "round_robin") {
        out.balance = balance_policy::round_robin;
      } else if (*text == "least_loaded") {
        out.balance = balance_policy::least_loaded;
      } else if (*text == "hash_tenant") {
        out.balance = balance_policy::hash_tenant;
      } else {
        error(*balance,
              "expected round_robin, least_loaded or hash_tenant, got " + quote_value(*text));
      }
    }
    if (urls == nullptr) {
      error(*balance, "balance chooses among replicas: list them in urls");
    }
  }
  if (const field* health = http->get("health_check")) {
    if (const auto h = read_map(*health, health_keys,
                                "a map like { interval: 5s, timeout: 2s, unhealthy_after: 2 }")) {
      if (const field* d = h->get("interval")) {
        read_duration(*d, out.health_interval, zero_policy::reject);
      }
      if (const field* d = h->get("timeout")) {
        read_duration(*d, out.health_timeout, zero_policy::reject);
      }
      if (const field* n = h->get("unhealthy_after")) {
        read_size(*n, out.unhealthy_after, value_kind::count);
      }
    }
    if (urls == nullptr) {
      lone_health_check_ = health;  // allowed for a required backend (read_backends checks)
    }
  }
  if (const field* timeout = http->get("timeout")) {
    read_duration(*timeout, out.timeout, zero_policy::reject);
  }
  if (const field* timeout = http->get("connect_timeout")) {
    read_duration(*timeout, out.connect_timeout, zero_policy::reject);
  }
  if (const field* verify = http->get("tls_verify")) {
    read_bool(*verify, out.tls_verify);
  }
  if (const field* ca = http->get("ca_file")) {
    read_file_name(*ca, out.ca_file);
  }
  if (const field* max = http->get("max_idle_connections")) {
    read_size(*max, out.max_idle_connections, value_kind::count);
  }
  if (const field* headers = http->get("headers")) {
    read_credential_headers(*headers, out.headers);
  }
  if (const field* headers = http->get("tenant_headers")) {
    read_tenant_headers(*headers, out);
  }
  if (const field* retry = http->get("retry")) {
    if (const auto r = read_map(*retry, retry_keys, "a map like { attempts: 3, backoff: 100ms }")) {
      if (const field* attempts = r->get("attempts")) {
        read_size(*attempts, out.retry_attempts, value_kind::count);
      }
      if (const field* backoff = r->get("backoff")) {
        read_duration(*backoff, out.retry_backoff, zero_policy::reject);
      }
      if (const field* calls = r->get("tools_call")) {
        read_bool(*calls, out.retry_tools_call);
      }
    }
  }
}

void parser::read_tenant_headers(const field& at, http_backend_config& out) {
  if (!at.node.IsMap()) {
    expected(at,
             "a map of tenant names to headers, like { acme: { Authorization: ${ACME_TOKEN} } }");
    return;
  }
  for (auto it = at.node.begin(); it != at.node.end(); ++it) {
    const YAML::Node key = it->first;
    const std::string tenant = key.IsScalar() ? key.Scalar() : std::string();
    const field headers_at{it->second, child_path(at.path, tenant), line_of(key)};
    tenant_refs_.push_back({tenant, headers_at.path, headers_at.line});
    std::vector<credential_header> headers;
    read_credential_headers(headers_at, headers);
    out.tenant_headers.emplace_back(tenant, std::move(headers));
  }
}

void parser::read_tenant_env(const field& at, stdio_backend_config& out) {
  if (!at.node.IsMap()) {
    expected(at, "a map of tenant names to variables, like { acme: { TOKEN: ${ACME_TOKEN} } }");
    return;
  }
  for (auto it = at.node.begin(); it != at.node.end(); ++it) {
    const YAML::Node key = it->first;
    const std::string tenant = key.IsScalar() ? key.Scalar() : std::string();
    const field env_at{it->second, child_path(at.path, tenant), line_of(key)};
    tenant_refs_.push_back({tenant, env_at.path, env_at.line});
    stdio_backend_config vars;
    read_stdio_env(env_at, vars);
    out.tenant_env.emplace_back(tenant, std::move(vars.env));
  }
}

void parser::read_stdio(const field& at, stdio_backend_config& out) {
  const auto stdio = read_map(at, stdio_keys, "a map like { command: [node, server.mjs] }");
  if (!stdio) {
    return;
  }
  // cwd first: a relative command path is found from there.
  if (const field* cwd = stdio->get("cwd")) {
    read_file_name(*cwd, out.cwd);
    std::error_code ec;
    if (!out.cwd.empty() && !std::filesystem::is_directory(out.cwd, ec)) {
      error(*cwd, "expected an existing directory, got " + quote_value(out.cwd));
    }
  }
  if (const field* command = stdio->get("command")) {
    read_stdio_command(*command, out);
  } else {
    missing(*stdio, "command", "expected the program and its arguments, like [node, server.mjs]");
  }
  if (const field* env = stdio->get("env")) {
    read_stdio_env(*env, out);
  }
  if (const field* env = stdio->get("tenant_env")) {
    read_tenant_env(*env, out);
  }
  if (const field* pool = stdio->get("pool")) {
    read_stdio_pool(*pool, out);
  }
  if (const field* timeout = stdio->get("timeout")) {
    read_duration(*timeout, out.timeout, zero_policy::reject);
  }
  if (const field* timeout = stdio->get("shutdown_timeout")) {
    read_duration(*timeout, out.shutdown_timeout, zero_policy::reject);
  }
}

void parser::read_stdio_command(const field& at, stdio_backend_config& out) {
  const auto items =
      read_list(at, "a list: the program and its arguments, like [node, server.mjs]");
  if (!items) {
    return;
  }
  if (items->empty()) {
    error(at, "expected the program and its arguments, got an empty list");
    return;
  }
  for (const field& item : *items) {
    auto word = read_scalar(item, "a program name or argument");
    if (!word) {
      continue;
    }
    if (word->find('\0') != std::string::npos) {
      error(item, "expected an argument without NUL characters, got " + quote_value(*word));
      continue;
    }
    out.command.push_back(std::move(*word));
  }
  if (out.command.size() != items->size()) {
    return;
  }
  const field& program = items->front();
  if (out.command.front().empty()) {
    error(program, "expected a program name, got an empty string");
  } else if (locate_program(out.command.front(), out.cwd).empty()) {
    error(program,
          "program " + quote_value(out.command.front()) +
              (out.command.front().find('/') != std::string::npos ? " is not an executable file"
                                                                  : " is not found in PATH") +
              "; give its full path or fix PATH");
  }
}

void parser::read_stdio_env(const field& at, stdio_backend_config& out) {
  if (!at.node.IsMap()) {
    expected(at, "a map of environment variables, like { LOG_LEVEL: debug }");
    return;
  }
  for (auto it = at.node.begin(); it != at.node.end(); ++it) {
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    const field name_at{key, at.path, line_of(key)};
    if (!key.IsScalar() || !valid_env_name(key.Scalar())) {
      error(name_at,
            "expected an environment variable name (letters, digits and '_', not "
            "starting with a digit), got " +
                describe(key));
      continue;
    }
    const std::string& name = key.Scalar();
    const field value_at{value, child_path(at.path, name), line_of(key)};
    auto text = read_scalar(value_at, "a string value");
    if (!text) {
      continue;
    }
    if (text->find('\0') != std::string::npos) {
      error(value_at, "expected a value without NUL characters");
      continue;
    }
    text = expand_env(value_at, *text);
    if (!text) {
      continue;
    }
    auto same = [&](const auto& entry) { return entry.first == name; };
    if (std::any_of(out.env.begin(), out.env.end(), same)) {
      error(value_at, "duplicate variable " + quote_value(name));
      continue;
    }
    out.env.emplace_back(name, std::move(*text));
  }
}

void parser::read_stdio_pool(const field& at, stdio_backend_config& out) {
  const auto pool = read_map(at, pool_keys, "a map like { warm: 2, max: 200 }");
  if (!pool) {
    return;
  }
  const field* warm = pool->get("warm");
  const field* max = pool->get("max");
  if (warm != nullptr) {
    out.pool_warm = read_count(*warm).value_or(out.pool_warm);
  }
  if (max != nullptr) {
    if (const auto value = read_count(*max)) {
      if (*value == 0) {
        error(*max, "expected a number greater than zero, got \"0\"");
      } else {
        out.pool_max = *value;
      }
    }
  }
  if (out.pool_warm > out.pool_max) {
    error(warm != nullptr ? *warm : *max,
          "warm (" + std::to_string(out.pool_warm) + ") must not exceed max (" +
              std::to_string(out.pool_max) + "): warm processes count against max");
  }
}

void parser::read_routes(const map_fields& top, gateway_config& config) {
  const field* at = top.get("routes");
  if (at == nullptr) {
    missing(top, "routes", "at least one route is required");
    return;
  }
  const auto items = read_list(*at, "a list of routes");
  if (!items) {
    return;
  }
  if (items->empty()) {
    error(*at, "expected at least one route, got an empty list");
  }
  std::map<std::string, int, std::less<>> path_lines;
  for (const field& item : *items) {
    const auto route = read_map(item, route_keys, "a route map with path and backend");
    if (!route) {
      continue;
    }
    route_config out;
    if (const field* path = route->get("path")) {
      if (const auto text = read_value(*path, value_kind::route_path)) {
        const auto [first, inserted] = path_lines.emplace(*text, path->line);
        if (!inserted) {
          error(*path, "duplicate route path " + quote_value(*text) + "; the first is on line " +
                           std::to_string(first->second));
        }
        out.path = *text;
      }
    } else {
      missing(*route, "path", "expected a path like /mcp");
    }
    out.line = item.line;
    const field* backend = route->get("backend");
    const field* members = route->get("backends");
    if (backend != nullptr && members != nullptr) {
      error(*members,
            "a route has either backend (one backend) or backends (an aggregated "
            "route), not both");
    } else if (backend != nullptr) {
      auto name = read_value(*backend, value_kind::name);
      if (name) {
        check_backend_name(*backend, *name);
      }
      out.backend = name.value_or("");
    } else if (members != nullptr) {
      read_route_members(*members, out);
    } else {
      missing(*route, "backend",
              "expected the name of a backend (or backends: a list of them, for an aggregated "
              "route)");
    }
    const bool aggregated = members != nullptr;
    for (std::string_view key : {"tools", "prompts", "resources", "upstream_sessions",
                                 "list_timeout", "rejoin_interval"}) {
      if (const field* f = route->get(key); f != nullptr && !aggregated) {
        error(*f, "only an aggregated route (one with backends:) takes " + std::string(key));
      }
    }
    if (aggregated) {
      read_item_filters(*route, out.filters);
      if (const field* mode = route->get("upstream_sessions")) {
        if (const auto text = read_scalar(*mode, "eager or lazy")) {
          if (*text == "eager") {
            out.upstream_sessions = upstream_mode::eager;
          } else if (*text == "lazy") {
            out.upstream_sessions = upstream_mode::lazy;
          } else {
            error(*mode,
                  "expected eager (open every backend's session at initialize) or lazy "
                  "(at first use), got " +
                      quote_value(*text));
          }
        }
      }
      if (const field* t = route->get("list_timeout")) {
        read_duration(*t, out.list_timeout, zero_policy::reject);
      }
      if (const field* t = route->get("rejoin_interval")) {
        read_duration(*t, out.rejoin_interval, zero_policy::reject);
      }
    }
    config.routes.push_back(std::move(out));
  }
}

void parser::check_backend_name(const field& at, const std::string& name) {
  if (backend_names_complete_ && !backend_lines_.contains(name)) {
    std::vector<std::string_view> names;
    for (const auto& entry : backend_lines_) {
      names.push_back(entry.first);
    }
    error(at, "expected the name of a backend defined under backends (" + join(names) + "), got " +
                  quote_value(name));
  }
}

void parser::read_name_filter(const field& at, name_filter& out) {
  const auto map = read_map(at, name_filter_keys,
                            "a map like { include: [\"search_*\"], exclude: [\"*_admin\"] }");
  if (!map) {
    return;
  }
  if (const field* list = map->get("include")) {
    out.include = read_strings(*list, "a list of globs, like [\"search_*\"]").value_or(out.include);
  }
  if (const field* list = map->get("exclude")) {
    out.exclude = read_strings(*list, "a list of globs, like [\"*_admin\"]").value_or(out.exclude);
  }
}

void parser::read_item_filters(const map_fields& map, item_filters& out) {
  if (const field* f = map.get("tools")) {
    read_name_filter(*f, out.tools);
  }
  if (const field* f = map.get("prompts")) {
    read_name_filter(*f, out.prompts);
  }
  if (const field* f = map.get("resources")) {
    read_name_filter(*f, out.resources);
  }
}

void parser::read_route_members(const field& at, route_config& out) {
  const auto items = read_list(at, "a list of backend names (or maps with name and prefix)");
  if (!items) {
    return;
  }
  if (items->empty()) {
    error(at, "expected at least one backend, got an empty list");
    return;
  }
  for (const field& item : *items) {
    route_member m;
    m.line = item.line;
    std::optional<std::string> name;
    const field* prefix_at = &item;
    std::optional<map_fields> map;  // prefix_at may point into it
    if (item.node.IsMap()) {
      map = read_map(item, member_keys, "a map with name, prefix and separator");
      if (!map) {
        continue;
      }
      if (const field* n = map->get("name")) {
        name = read_value(*n, value_kind::name);
        if (name) {
          check_backend_name(*n, *name);
        }
      } else {
        missing(*map, "name", "expected the name of a backend defined under backends");
      }
      m.prefix = name.value_or("");
      if (const field* p = map->get("prefix")) {
        prefix_at = p;
        m.prefix = read_scalar(*p, "a prefix like \"files\" (or \"\" for none)").value_or("");
      }
      if (const field* sep = map->get("separator")) {
        if (auto text = read_scalar(*sep, "a separator like \"__\"")) {
          if (text->empty() || text->size() > 8 || !tool_name_chars(*text)) {
            error(*sep,
                  "expected 1 to 8 of letters, digits, '_', '-' or '.' (characters MCP "
                  "allows in tool names), got " +
                      quote_value(*text));
          }
          m.separator = std::move(*text);
        }
      }
      read_item_filters(*map, m.filters);
    } else {
      name = read_value(item, value_kind::name);
      if (name) {
        check_backend_name(item, *name);
      }
      m.prefix = name.value_or("");
    }
    if (!name) {
      continue;
    }
    m.backend = *name;
    if (!m.prefix.empty()) {
      const bool letter = std::isalpha(static_cast<unsigned char>(m.prefix.front())) != 0;
      if (!letter || !tool_name_chars(m.prefix) || m.prefix.size() > 32) {
        error(*prefix_at, "the prefix " + quote_value(m.prefix) +
                              " must be 1 to 32 of letters, digits, '_', '-' or '.', starting "
                              "with a letter (it begins tool names and resource URI schemes); "
                              "set prefix: to one that is");
      }
      m.uri_prefix = uri_scheme_prefix(m.prefix);
    }
    for (const route_member& other : out.members) {
      if (other.backend == m.backend) {
        error(item, "backend " + quote_value(m.backend) + " is already on this route (line " +
                        std::to_string(other.line) + ")");
      } else if (other.prefix.empty() && m.prefix.empty()) {
        error(item, "backends " + quote_value(other.backend) + " and " + quote_value(m.backend) +
                        " both have no prefix: their tool, prompt and resource names could "
                        "collide; give one of them a prefix");
      } else if (!m.prefix.empty() && other.prefix + other.separator == m.prefix + m.separator) {
        error(*prefix_at, "backends " + quote_value(other.backend) + " and " +
                              quote_value(m.backend) + " both name their tools " +
                              quote_value(m.prefix + m.separator) + "...; give one another prefix");
      } else if (!m.prefix.empty() && !other.prefix.empty() &&
                 ((m.prefix + m.separator).starts_with(other.prefix + other.separator) ||
                  (other.prefix + other.separator).starts_with(m.prefix + m.separator))) {
        error(*prefix_at, "the tool names of backends " + quote_value(other.backend) + " (" +
                              quote_value(other.prefix + other.separator) + "...) and " +
                              quote_value(m.backend) + " (" + quote_value(m.prefix + m.separator) +
                              "...) could be read as each other's; choose prefixes neither of "
                              "which begins the other");
      } else if (!m.prefix.empty() && other.uri_prefix == m.uri_prefix) {
        error(*prefix_at, "backends " + quote_value(other.backend) + " and " +
                              quote_value(m.backend) + " both map resource URIs to " +
                              quote_value(m.uri_prefix + "+...") + "; give one another prefix");
      }
    }
    out.members.push_back(std::move(m));
  }
}

}  // namespace mcpgw::config_detail
