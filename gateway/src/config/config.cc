// Walks the YAML tree of gateway.yaml into a gateway_config, reporting every problem with its
// file, line and key path so that one run of --check-config shows all of them. The syntax of
// single values (durations, sizes, addresses, URLs) lives in config_values.cc.
#include "mcpgw/config.h"

#include "store/redis_options.h"

#include "config/parser.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace mcpgw {
namespace {

constexpr std::array<std::string_view, 16> top_level_keys{
    "listen",          "admin_listen",  "tls",           "allowed_hosts",
    "allowed_origins", "session_store", "cluster",       "backends",
    "routes",          "limits",        "tenants",       "filters",
    "shutdown_grace",  "log_level",     "observability", "workers"};
constexpr std::array<std::string_view, 3> observability_keys{"metrics", "access_log", "tracing"};
constexpr std::array<std::string_view, 2> tracing_keys{"generate", "meta"};
constexpr std::array<std::string_view, 4> cluster_keys{"listen", "advertise", "secret_env",
                                                       "heartbeat"};
constexpr std::array<std::string_view, 2> tls_keys{"cert", "key"};
constexpr std::array<std::string_view, 9> session_store_keys{
    "type",    "idle_timeout", "max_sessions",   "url", "key_prefix", "password_env",
    "timeout", "cache_ttl",    "connect_timeout"};
constexpr std::array<std::string_view, 11> limits_keys{
    "max_call_duration", "max_body",
    "max_header",        "max_backend_message",
    "header_timeout",    "body_timeout",
    "write_timeout",     "idle_connection_timeout",
    "sse_keepalive",     "stream_buffer_events",
    "max_connections"};

}  // namespace

namespace config_detail {

int line_of(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool contains(std::span<const std::string_view> set, std::string_view word) {
  return std::find(set.begin(), set.end(), word) != set.end();
}

void add_unique(std::vector<std::string>& to, std::string value) {
  if (std::find(to.begin(), to.end(), value) == to.end()) {
    to.push_back(std::move(value));
  }
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return quote_value(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::string join(std::span<const std::string_view> words) {
  std::string out;
  for (const auto word : words) {
    out += out.empty() ? "" : ", ";
    out += word;
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string unknown_key_message(std::string_view key, std::span<const std::string_view> known) {
  std::string message = "unknown key " + quote_value(key);
  const auto closest = std::min_element(known.begin(), known.end(), [key](auto a, auto b) {
    return edit_distance(key, a) < edit_distance(key, b);
  });
  if (closest != known.end() && edit_distance(key, *closest) <= 2) {
    message += " (did you mean " + quote_value(*closest) + "?)";
  }
  return message + "; expected one of " + join(known);
}

std::optional<map_fields> parser::read_map(const field& at, std::span<const std::string_view> known,
                                           std::string_view what) {
  if (!at.node.IsMap()) {
    expected(at, what);
    return std::nullopt;
  }
  map_fields out{at, {}};
  for (auto it = at.node.begin(); it != at.node.end(); ++it) {
    // Copies, not references: yaml-cpp's it-> is a temporary proxy.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    const int key_line = line_of(key);
    if (!key.IsScalar()) {
      error(key_line, at.path, "expected a key name, got " + describe(key));
      continue;
    }
    const std::string& name = key.Scalar();
    const std::string path = child_path(at.path, name);
    if (!contains(known, name)) {
      error(key_line, path, unknown_key_message(name, known));
      continue;
    }
    // yaml-cpp keeps both copies of a repeated key; silently taking one would hide a mistake.
    if (const field* first = out.get(name)) {
      error(key_line, path, "duplicate key; the first is on line " + std::to_string(first->line));
      continue;
    }
    // The key's line, not the value's: a nested map or list starts on a later line, and an
    // empty value is marked on the line after its key.
    out.by_key.emplace(name, field{value, path, key_line});
  }
  return out;
}

std::optional<std::vector<field>> parser::read_list(const field& at, std::string_view what) {
  if (!at.node.IsSequence()) {
    expected(at, what);
    return std::nullopt;
  }
  std::vector<field> out;
  for (const YAML::Node& item : at.node) {
    const int line = item.IsNull() ? at.line : line_of(item);
    out.push_back(field{item, at.path + "[" + std::to_string(out.size()) + "]", line});
  }
  return out;
}

std::optional<std::string> parser::read_scalar(const field& at, std::string_view what) {
  if (!at.node.IsScalar()) {
    expected(at, what);
    return std::nullopt;
  }
  return at.node.Scalar();
}

// A scalar that is well-formed for its kind, or nullopt after reporting why not.
std::optional<std::string> parser::read_value(const field& at, value_kind kind) {
  auto text = read_scalar(at, value_expectation(kind));
  if (text) {
    if (auto message = value_error(kind, *text); !message.empty()) {
      error(at, std::move(message));
      return std::nullopt;
    }
  }
  return text;
}

void parser::read_duration(const field& at, duration& out, zero_policy zero) {
  const auto text = read_value(at, value_kind::time_span);
  if (!text) {
    return;
  }
  const duration value = parse_duration(*text).value_or(duration::zero());
  if (zero == zero_policy::reject && value == duration::zero()) {
    error(at, "expected a duration greater than zero, got " + quote_value(*text));
  } else {
    out = value;
  }
}

// Sizes ("4MiB") and counts ("1000"): both land in a size_t and both are meaningless at zero.
void parser::read_size(const field& at, std::size_t& out, value_kind kind) {
  const auto text = read_value(at, kind);
  if (!text) {
    return;
  }
  std::size_t value = 0;
  if (kind == value_kind::size) {
    value = parse_size(*text).value_or(0);
  } else {
    std::from_chars(text->data(), text->data() + text->size(), value);
  }
  if (value == 0) {
    error(at, std::string("expected ") + (kind == value_kind::size ? "a size" : "a number") +
                  " greater than zero, got " + quote_value(*text));
  } else {
    out = value;
  }
}

void parser::read_bool(const field& at, bool& out) {
  if (const auto text = read_value(at, value_kind::boolean)) {
    out = text->front() != 'f' && text->front() != 'F';
  }
}

void parser::read_file_name(const field& at, std::string& out) {
  const auto text = read_scalar(at, "a file name");
  if (text && text->empty()) {
    expected(at, "a file name");
  } else if (text) {
    out = *text;
  }
}

std::optional<std::size_t> parser::read_count(const field& at) {
  const auto text = read_value(at, value_kind::count);
  if (!text) {
    return std::nullopt;
  }
  std::size_t value = 0;
  std::from_chars(text->data(), text->data() + text->size(), value);
  return value;
}

gateway_config parser::parse_document(const field& root) {
  gateway_config config;
  config.source = file_;
  const auto top = read_map(root, top_level_keys, "a map of settings");
  if (!top) {
    return config;
  }
  read_listeners(*top, config);
  if (const field* at = top->get("tls")) {
    read_tls(*at, config);
  }
  read_allowed_hosts(*top, config);
  if (const field* at = top->get("allowed_origins")) {
    read_allowed_origins(*at, config);
  }
  if (const field* at = top->get("session_store")) {
    read_session_store(*at, config.session_store);
  }
  if (const field* at = top->get("cluster")) {
    read_cluster(*at, config);
  }
  read_tenants(*top, config);
  read_backends(*top, config);
  read_routes(*top, config);
  read_filters(*top, config);
  if (const field* at = top->get("limits")) {
    read_limits(*at, config.limits);
  }
  if (const field* at = top->get("shutdown_grace")) {
    read_duration(*at, config.shutdown_grace, zero_policy::allow);
  }
  if (const field* at = top->get("log_level")) {
    config.log_level = read_value(*at, value_kind::log_level).value_or(config.log_level);
  }
  if (const field* at = top->get("observability")) {
    read_observability(*at, config.observability);
  }
  if (const field* at = top->get("workers")) {
    read_workers(*at, config);
  }
  check_references(config);
  return config;
}

void parser::read_listeners(const map_fields& top, gateway_config& config) {
  if (const field* at = top.get("listen")) {
    if (const auto text = read_value(*at, value_kind::host_port)) {
      config.listen = *parse_host_port(*text);
    }
  }
  const field* admin = top.get("admin_listen");
  if (admin == nullptr) {
    config.admin_listen = host_port{"127.0.0.1", 9090};
    return;
  }
  const auto text = read_value(*admin, value_kind::host_port);
  if (!text) {
    return;
  }
  config.admin_listen = parse_host_port(*text);
  const host_port& a = *config.admin_listen;
  // Port 0 asks the kernel for a fresh port each time, so two of them never clash.
  if (a.port != 0 && a.port == config.listen.port && lower(a.host) == lower(config.listen.host)) {
    error(*admin, "expected an address other than listen's, got " + quote_value(*text));
  }
}

void parser::read_workers(const field& at, gateway_config& config) {
  const auto text = read_scalar(at, "a number of threads or auto");
  if (!text) {
    return;
  }
  const auto workers = parse_workers(*text);
  if (!workers) {
    error(at, "expected auto or a number from 1 to " + std::to_string(max_workers) + ", got " +
                  quote_value(*text));
    return;
  }
  if (const char* why = workers_refusal(config); *workers > 1 && why != nullptr) {
    error(at, std::string(why) + "; set workers: 1, got " + quote_value(*text));
    return;
  }
  config.workers = *workers;
}

void parser::read_observability(const field& at, observability_config& out) {
  const auto obs = read_map(
      at, observability_keys,
      "a map like { metrics: true, access_log: false, tracing: { generate: true, meta: true } }");
  if (!obs) {
    return;
  }
  if (const field* metrics = obs->get("metrics")) {
    read_bool(*metrics, out.metrics);
  }
  if (const field* access = obs->get("access_log")) {
    read_bool(*access, out.access_log);
  }
  if (const field* tracing = obs->get("tracing")) {
    const auto t = read_map(*tracing, tracing_keys, "a map like { generate: true, meta: true }");
    if (!t) {
      return;
    }
    if (const field* generate = t->get("generate")) {
      read_bool(*generate, out.trace_generate);
    }
    if (const field* meta = t->get("meta")) {
      read_bool(*meta, out.trace_meta);
    }
  }
}

void parser::read_tls(const field& at, gateway_config& config) {
  const auto tls = read_map(at, tls_keys, "a map with cert and key");
  if (!tls) {
    return;
  }
  tls_config out;
  for (const auto key : tls_keys) {
    if (const field* file = tls->get(key)) {
      read_file_name(*file, key == "cert" ? out.cert : out.key);
    } else {
      missing(*tls, key, "tls needs both cert and key");
    }
  }
  config.tls = std::move(out);
}

void parser::read_allowed_hosts(const map_fields& top, gateway_config& config) {
  const field* at = top.get("allowed_hosts");
  if (at == nullptr) {
    add_unique(config.allowed_hosts,
               parse_host(config.listen.host).value_or(lower(config.listen.host)));
    for (const char* host : {"localhost", "127.0.0.1", "::1"}) {
      add_unique(config.allowed_hosts, host);
    }
    return;
  }
  const auto items = read_list(*at, "a list of host names");
  if (!items) {
    return;
  }
  if (items->empty()) {
    // An empty list would refuse every request; far more likely a slip than a wish.
    error(*at, "expected at least one host name, got an empty list (omit the key for defaults)");
  }
  for (const field& item : *items) {
    if (const auto text = read_value(item, value_kind::host)) {
      add_unique(config.allowed_hosts, *parse_host(*text));
    }
  }
}

void parser::read_allowed_origins(const field& at, gateway_config& config) {
  const auto items = read_list(at, "a list of origins");
  if (!items) {
    return;
  }
  for (const field& item : *items) {
    // Scheme and host compare case-insensitively; lower-casing once keeps the check a string ==.
    if (const auto text = read_value(item, value_kind::origin)) {
      add_unique(config.allowed_origins, lower(*text));
    }
  }
}

void parser::read_session_store(const field& at, session_store_config& out) {
  const auto store = read_map(at, session_store_keys, "a map like { type: memory }");
  if (!store) {
    return;
  }
  if (const field* type = store->get("type")) {
    if (const auto text = read_scalar(*type, "a store type")) {
      if (*text == "memory" || *text == "redis") {
        out.type = *text;
      } else {
        error(*type, "expected memory or redis, got " + quote_value(*text));
      }
    }
  }
  if (const field* url = store->get("url")) {
    if (const auto text = read_scalar(*url, "a redis:// URL")) {
      redis_options parsed;
      std::string why;
      if (parse_redis_url(*text, parsed, why)) {
        out.url = *text;
      } else {
        error(*url, why + ", got " + quote_value(*text));
      }
    }
  }
  if (const field* prefix = store->get("key_prefix")) {
    if (const auto text = read_scalar(*prefix, "a key prefix like \"mcpgw:\"")) {
      out.key_prefix = *text;
    }
  }
  if (const field* env = store->get("password_env")) {
    if (const auto name = read_scalar(*env, "an environment variable name")) {
      const char* value = std::getenv(name->c_str());
      if (value == nullptr || *value == '\0') {
        error(*env, "the environment variable " + quote_value(*name) +
                        " is not set (or empty); export it, or remove password_env");
      } else {
        out.password_env = *name;
        out.password = value;
      }
    }
  }
  for (auto [key, target] :
       {std::pair{"timeout", &out.timeout}, std::pair{"connect_timeout", &out.connect_timeout},
        std::pair{"cache_ttl", &out.cache_ttl}}) {
    if (const field* d = store->get(key)) {
      read_duration(*d, *target, zero_policy::reject);
    }
  }
  if (out.type == "redis" && out.url.empty() && !store->get("url")) {
    error(at, "type: redis needs url, e.g. url: redis://127.0.0.1:6379/0");
  }
  if (out.type != "redis") {
    for (std::string_view key :
         {"url", "key_prefix", "password_env", "timeout", "cache_ttl", "connect_timeout"}) {
      if (const field* extra = store->get(key)) {
        error(*extra, std::string(key) + " is a setting of type: redis; this store is " +
                          quote_value(out.type));
      }
    }
  }
  if (const field* timeout = store->get("idle_timeout")) {
    read_duration(*timeout, out.idle_timeout, zero_policy::reject);
  }
  if (const field* max = store->get("max_sessions")) {
    read_size(*max, out.max_sessions, value_kind::count);
  }
}

void parser::read_cluster(const field& at, gateway_config& config) {
  const auto cluster = read_map(
      at, cluster_keys,
      "a map like { listen: 0.0.0.0:7070, advertise: 10.0.0.5:7070, secret_env: MCPGW_SECRET }");
  if (!cluster) {
    return;
  }
  cluster_config out;
  bool complete = true;
  if (const field* listen = cluster->get("listen")) {
    if (const auto text = read_value(*listen, value_kind::host_port)) {
      out.listen = *parse_host_port(*text);
    } else {
      complete = false;
    }
  } else {
    missing(*cluster, "listen", "the internal listener, like 0.0.0.0:7070");
    complete = false;
  }
  if (const field* advertise = cluster->get("advertise")) {
    if (const auto text =
            expand_env(*advertise, read_scalar(*advertise, "host:port").value_or(""))) {
      auto colon = text->rfind(':');
      const std::string_view host = std::string_view(*text).substr(0, colon);
      const bool bare_ipv6 = host.find(':') != std::string_view::npos && !host.starts_with('[');
      if (text->empty() || colon == std::string::npos || colon == 0 || colon + 1 == text->size() ||
          text->find_first_of(" /?#@") != std::string::npos || bare_ipv6) {
        error(*advertise,
              "expected the host:port the other replicas reach this one at, like "
              "10.0.0.5:7070, [fd00::5]:7070 or mcpgw-0.mcpgw:7070, got " +
                  quote_value(*text));
        complete = false;
      } else {
        out.advertise = *text;
      }
    } else {
      complete = false;
    }
  } else {
    missing(*cluster, "advertise", "the host:port the other replicas reach this one at");
    complete = false;
  }
  if (const field* env = cluster->get("secret_env")) {
    if (const auto name = read_scalar(*env, "an environment variable name")) {
      const char* value = std::getenv(name->c_str());
      if (value == nullptr || std::string_view(value).size() < 16) {
        error(*env, "the environment variable " + quote_value(*name) +
                        (value == nullptr ? " is not set" : " holds fewer than 16 characters") +
                        "; every replica needs the same secret of at least 16 characters");
        complete = false;
      } else {
        out.secret_env = *name;
        out.secret = value;
      }
    }
  } else {
    missing(*cluster, "secret_env", "the variable holding the replicas' shared secret");
    complete = false;
  }
  if (const field* beat = cluster->get("heartbeat")) {
    read_duration(*beat, out.heartbeat, zero_policy::reject);
  }
  if (config.session_store.type != "redis") {
    error(at,
          "cluster needs session_store type: redis (replicas find each other's sessions "
          "there)");
    complete = false;
  }
  if (complete) {
    config.cluster = std::move(out);
  }
}

void parser::read_limits(const field& at, limits_config& out) {
  const auto limits = read_map(at, limits_keys, "a map of limits");
  if (!limits) {
    return;
  }
  const std::tuple<std::string_view, std::size_t*, value_kind> sizes[] = {
      {"max_body", &out.max_body, value_kind::size},
      {"max_header", &out.max_header, value_kind::size},
      {"max_backend_message", &out.max_backend_message, value_kind::size},
      {"stream_buffer_events", &out.stream_buffer_events, value_kind::count},
      {"max_connections", &out.max_connections, value_kind::count},
  };
  const std::pair<std::string_view, duration*> durations[] = {
      {"header_timeout", &out.header_timeout},
      {"body_timeout", &out.body_timeout},
      {"write_timeout", &out.write_timeout},
      {"idle_connection_timeout", &out.idle_connection_timeout},
      {"sse_keepalive", &out.sse_keepalive},
      {"max_call_duration", &out.max_call_duration},
  };
  for (const auto& [key, target, kind] : sizes) {
    if (const field* value = limits->get(key)) {
      read_size(*value, *target, kind);
    }
  }
  for (const auto& [key, target] : durations) {
    if (const field* value = limits->get(key)) {
      read_duration(*value, *target, zero_policy::reject);
    }
  }
}

}  // namespace config_detail

using config_detail::field;
using config_detail::line_of;
using config_detail::parser;

std::string config_error::to_string() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
  }
  out += ": ";
  if (!key.empty()) {
    out += key + ": ";
  }
  return out + message;
}

config_result parse_config_text(const std::string& text, const std::string& source_name,
                                const filter_registry* filters) {
  parser p(source_name, filters);
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    p.error(e.mark.is_null() ? 0 : e.mark.line + 1, "", "invalid YAML: " + e.msg);
    return config_result{std::nullopt, p.take_errors()};
  }
  if (documents.empty() || documents.front().IsNull()) {
    p.error(1, "", "the file is empty; expected a map of settings with backends and routes");
    return config_result{std::nullopt, p.take_errors()};
  }
  for (std::size_t i = 1; i < documents.size(); ++i) {
    if (!documents[i].IsNull()) {
      p.error(line_of(documents[i]), "", "expected one YAML document, found another");
    }
  }
  const YAML::Node& root = documents.front();
  gateway_config config = p.parse_document(field{root, "", std::max(line_of(root), 1)});
  config_result result{std::nullopt, p.take_errors()};
  if (result.errors.empty()) {
    result.config = std::move(config);
  }
  return result;
}

config_result parse_config_file(const std::string& path, const filter_registry* filters) {
  auto unreadable = [&path](const std::string& why) {
    return config_result{std::nullopt, {config_error{path, 0, "", "cannot read the file: " + why}}};
  };
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return unreadable("it is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return unreadable(std::strerror(errno));
  }
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) {
    return unreadable(std::strerror(errno));
  }
  return parse_config_text(text, path, filters);
}

}  // namespace mcpgw
