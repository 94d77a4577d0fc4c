// tenants[] and filters[] of gateway.yaml: who may call the gateway and what with, and the
// filter chain in order (each filter's settings are read by its plugin's parser).
#include "config/parser.h"
#include "mcpgw/filter.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>

namespace mcpgw::config_detail {
namespace {

constexpr std::array<std::string_view, 5> tenant_keys{"name", "api_keys", "allow", "deny",
                                                      "scopes"};
constexpr std::array<std::string_view, 5> rules_keys{"routes", "backends", "tools", "prompts",
                                                     "resources"};
constexpr std::array<std::string_view, 2> scope_keys{"tools", "scopes"};
constexpr std::string_view digest_prefix = "sha256:";

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// "sha256:<64 hex>" as 32 raw bytes; empty when malformed.
std::string parse_digest(std::string_view text) {
  if (!text.starts_with(digest_prefix) || text.size() != digest_prefix.size() + 64) {
    return {};
  }
  std::string out;
  for (std::size_t i = digest_prefix.size(); i < text.size(); i += 2) {
    int hi = hex_value(text[i]);
    int lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) {
      return {};
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::string join_names(const std::set<std::string, std::less<>>& names) {
  std::string out;
  for (const auto& name : names) {
    out += (out.empty() ? "" : ", ") + name;
  }
  return out;
}

}  // namespace

std::optional<std::vector<std::string>> parser::read_strings(const field& at,
                                                             std::string_view what) {
  auto items = read_list(at, what);
  if (!items) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const field& item : *items) {
    auto text = read_scalar(item, "a string");
    if (text && text->empty()) {
      error(item, "expected a non-empty string");
      text.reset();
    }
    if (!text) {
      ok = false;
      continue;
    }
    out.push_back(std::move(*text));
  }
  return ok ? std::optional(std::move(out)) : std::nullopt;
}

std::optional<std::string> parser::expand_env(const field& at, const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "${") != 0) {
      out.push_back(text[i++]);
      continue;
    }
    std::size_t close = text.find('}', i + 2);
    if (close == std::string::npos) {
      error(at, "unterminated ${ in " + quote_value(text) + "; write ${NAME}");
      return std::nullopt;
    }
    std::string name = text.substr(i + 2, close - i - 2);
    const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
    if (value == nullptr) {
      // The variable's name, never a value: these are secrets.
      error(at, "environment variable " + quote_value(name) +
                    " is not set; set it before starting the gateway");
      return std::nullopt;
    }
    out += value;
    i = close + 1;
  }
  return out;
}

std::optional<std::vector<std::pair<std::string, std::string>>> parser::read_string_map(
    const field& at, std::string_view what) {
  if (!at.node.IsMap()) {
    expected(at, what);
    return std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>> out;
  bool ok = true;
  for (auto it = at.node.begin(); it != at.node.end(); ++it) {
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (!key.IsScalar() || key.Scalar().empty()) {
      error(line_of(key), at.path, "expected a name, got " + describe(key));
      ok = false;
      continue;
    }
    const field value_at{value, child_path(at.path, key.Scalar()), line_of(key)};
    auto text = read_scalar(value_at, "a string value");
    if (text) {
      text = expand_env(value_at, *text);
    }
    if (!text) {
      ok = false;
      continue;
    }
    auto same = [&](const auto& entry) { return entry.first == key.Scalar(); };
    if (std::any_of(out.begin(), out.end(), same)) {
      error(value_at, "duplicate key " + quote_value(key.Scalar()));
      ok = false;
      continue;
    }
    out.emplace_back(key.Scalar(), std::move(*text));
  }
  return ok ? std::optional(std::move(out)) : std::nullopt;
}

void parser::read_access_rules(const field& at, access_rules& out) {
  const auto rules =
      read_map(at, rules_keys, "a map of glob lists, like { routes: [\"/mcp\"], tools: [\"*\"] }");
  if (!rules) {
    return;
  }
  auto read = [&](std::string_view key, std::vector<std::string>& into) {
    if (const field* list = rules->get(key)) {
      into = read_strings(*list, "a list of globs, like [\"search_*\"]").value_or(into);
    }
  };
  read("routes", out.routes);
  read("backends", out.backends);
  read("tools", out.tools);
  read("prompts", out.prompts);
  read("resources", out.resources);
}

void parser::read_tenants(const map_fields& top, gateway_config& config) {
  const field* at = top.get("tenants");
  if (at == nullptr) {
    return;
  }
  const auto items = read_list(*at, "a list of tenants");
  if (!items) {
    return;
  }
  std::map<std::string, int, std::less<>> names;
  std::map<std::string, std::string, std::less<>> key_owners;  // digest -> tenant
  for (const field& item : *items) {
    const auto tenant = read_map(item, tenant_keys, "a tenant map with name and api_keys");
    if (!tenant) {
      continue;
    }
    tenant_config out;
    out.line = item.line;
    if (const field* name = tenant->get("name")) {
      if (auto text = read_value(*name, value_kind::name)) {
        auto [first, inserted] = names.emplace(*text, name->line);
        if (!inserted) {
          error(*name, "duplicate tenant name " + quote_value(*text) + "; the first is on line " +
                           std::to_string(first->second));
        }
        out.name = std::move(*text);
      }
    } else {
      missing(*tenant, "name", "every tenant needs a unique name");
    }
    if (const field* keys = tenant->get("api_keys")) {
      if (auto digests = read_strings(*keys, "a list like [\"sha256:<hex digest of the key>\"]")) {
        for (std::size_t i = 0; i < digests->size(); ++i) {
          const field key_at{YAML::Node(), keys->path + "[" + std::to_string(i) + "]",
                             line_of((*keys).node[i])};
          std::string raw = parse_digest((*digests)[i]);
          if (raw.empty()) {
            // Not the value: a pasted key instead of its digest would end up in the output.
            error(key_at,
                  "expected \"sha256:\" and the 64 hex digits of the key's SHA-256 digest (make "
                  "one with: printf %s \"$KEY\" | sha256sum); the key itself does not belong in "
                  "the config");
            continue;
          }
          auto [owner, inserted] = key_owners.emplace(raw, out.name);
          if (!inserted) {
            error(key_at, "this API key digest is already listed for tenant " +
                              quote_value(owner->second) + "; a key belongs to one tenant");
            continue;
          }
          out.api_key_digests.push_back(std::move(raw));
        }
      }
    }
    if (const field* allow = tenant->get("allow")) {
      read_access_rules(*allow, out.allow);
    }
    if (const field* deny = tenant->get("deny")) {
      read_access_rules(*deny, out.deny);
    }
    if (const field* scopes = tenant->get("scopes")) {
      if (auto list =
              read_list(*scopes, "a list like [{ tools: \"deploy_*\", scopes: [deploy] }]")) {
        for (const field& entry : *list) {
          const auto rule =
              read_map(entry, scope_keys, "a map like { tools: \"deploy_*\", scopes: [deploy] }");
          if (!rule) {
            continue;
          }
          scope_requirement req;
          const field* tools = rule->get("tools");
          const field* needed = rule->get("scopes");
          if (tools == nullptr) {
            missing(*rule, "tools", "expected the glob of the tools that need the scopes");
          } else {
            req.tools = read_scalar(*tools, "a tool glob").value_or("");
          }
          if (needed == nullptr) {
            missing(*rule, "scopes", "expected the scopes a call to those tools needs");
          } else {
            req.scopes = read_strings(*needed, "a list of scope names").value_or(req.scopes);
          }
          if (!req.tools.empty() && !req.scopes.empty()) {
            out.scopes.push_back(std::move(req));
          }
        }
      }
    }
    config.tenants.push_back(std::move(out));
  }
}

void parser::read_filters(const map_fields& top, gateway_config& config) {
  const field* at = top.get("filters");
  if (at == nullptr) {
    return;
  }
  const auto items = read_list(*at, "a list of filters, like [{ auth: { ... } }]");
  if (!items) {
    return;
  }
  std::vector<std::string_view> known;
  if (filters_ != nullptr) {
    known = filters_->names();
  }
  for (const field& item : *items) {
    if (!item.node.IsMap() || item.node.size() != 1) {
      expected(item, "a map with one key, the filter's name, like { auth: { ... } }");
      continue;
    }
    const YAML::Node key = item.node.begin()->first;
    const YAML::Node value = item.node.begin()->second;
    const std::string name = key.IsScalar() ? key.Scalar() : std::string();
    const field settings{value, child_path(item.path, name), line_of(key)};
    const filter_registry::parse_fn* parse = filters_ ? filters_->find(name) : nullptr;
    if (parse == nullptr) {
      error(settings, "unknown filter " + quote_value(name) + "; this build has " +
                          (known.empty() ? std::string("no filters") : join(known)));
      continue;
    }
    auto same = [&](const filter_entry& e) { return e.name == name; };
    if (auto first = std::find_if(config.filters.begin(), config.filters.end(), same);
        first != config.filters.end()) {
      error(settings, "filter " + quote_value(name) + " is already in the chain on line " +
                          std::to_string(first->line) + "; list each filter once");
      continue;
    }
    if (auto factory = (*parse)(*this, settings)) {
      config.filters.push_back(filter_entry{name, settings.line, std::move(factory)});
    }
  }
}

void parser::read_credential_headers(const field& at, std::vector<credential_header>& out) {
  auto pairs = read_string_map(at, "a map of header names to values, like { X-Api-Key: ${KEY} }");
  if (!pairs) {
    return;
  }
  for (auto& [name, value] : *pairs) {
    const bool token_char = std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) ||
             std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
    const bool reserved = lower(name) == "host" || lower(name) == "content-length" ||
                          lower(name) == "mcp-session-id" || lower(name) == "transfer-encoding";
    if (!token_char || reserved) {
      error(at, "header " + quote_value(name) +
                    (reserved ? " is set by the gateway itself" : " is not a valid header name"));
      continue;
    }
    if (value.find_first_of("\r\n") != std::string::npos) {
      error(at, "the value of header " + quote_value(name) + " holds a line break");
      continue;
    }
    out.push_back(credential_header{std::move(name), std::move(value)});
  }
}

void parser::check_references(const gateway_config& config) {
  const bool has_auth = std::any_of(config.filters.begin(), config.filters.end(),
                                    [](const filter_entry& f) { return f.name == "auth"; });
  if (!config.tenants.empty() && !has_auth) {
    error(config.tenants.front().line, "tenants",
          "tenants are configured but no filter authenticates callers; add `- auth: {}` under "
          "filters");
  }
  std::set<std::string, std::less<>> tenants;
  for (const auto& t : config.tenants) {
    tenants.insert(t.name);
  }
  for (const auto& ref : tenant_refs_) {
    if (!tenants.contains(ref.tenant)) {
      error(ref.line, ref.path,
            "names tenant " + quote_value(ref.tenant) + ", which is not in tenants" +
                (tenants.empty() ? std::string() : "; tenants are " + join_names(tenants)));
    }
  }
  for (const filter_entry& f : config.filters) {
    f.factory->check(config, errors_);
  }
}

}  // namespace mcpgw::config_detail
