#include "auth/config.h"

#include "auth/auth_filter.h"

#include "config/parser.h"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <fstream>
#include <iterator>
#include <netinet/in.h>

namespace mcpgw::plugins {
namespace {

constexpr std::array<std::string_view, 6> auth_keys{
    "resource", "authorization_servers", "api_key_header", "scopes_supported",
    "jwt",      "credential_cache"};
constexpr std::array<std::string_view, 2> cache_keys{"max_entries", "max_age"};
constexpr std::size_t max_cache_entries = 1'000'000;
constexpr std::array<std::string_view, 9> jwt_keys{"issuer",       "audience",     "jwks_file",
                                                   "jwks_url",     "jwks_refresh", "jwks_ca_file",
                                                   "tenant_claim", "leeway",       "algorithms"};
constexpr std::array<std::string_view, 3> supported_algorithms{"HS256", "RS256", "ES256"};

class factory final : public filter_factory {
 public:
  explicit factory(auth_config config) : config_(std::move(config)) {}

  void check(const gateway_config& config, std::vector<config_error>& errors) const override {
    if (config.tenants.empty() && !config_.jwt) {
      errors.push_back({config.source, config_.line, "filters.auth",
                        "nobody could authenticate: list tenants with api_keys, or set jwt"});
    }
    if (config_.jwt && config_.jwt->rules.tenant_claim.empty() && !config.tenants.empty()) {
      errors.push_back({config.source, config_.jwt->line, "filters.auth.jwt.tenant_claim",
                        "missing; with tenants configured, tokens must name their tenant, or no "
                        "tenant policy would apply to them (for example tenant_claim: org)"});
    }
    if (config_.jwt && !config_.jwt->rules.tenant_claim.empty() && config.tenants.empty()) {
      errors.push_back({config.source, config_.jwt->line, "filters.auth.jwt.tenant_claim",
                        "names a claim, but there are no tenants to match it against; add "
                        "tenants or remove tenant_claim"});
    }
  }

  std::unique_ptr<filter> create(const filter_services& services) const override {
    auto f =
        std::make_unique<auth_filter>(config_, services.config, services.log, services.executor);
    if (services.stats != nullptr) {
      f->count_into(*services.stats);
    }
    return f;
  }

 private:
  auth_config config_;
};

// "https://host[:port]" of an absolute http(s) URL; empty when it is not one.
std::string origin_of(std::string_view url) {
  std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return {};
  }
  std::string_view scheme = url.substr(0, scheme_end);
  if (scheme != "https" && scheme != "http") {
    return {};
  }
  std::size_t path = url.find_first_of("/?#", scheme_end + 3);
  std::string_view origin = url.substr(0, path);
  return origin.size() > scheme_end + 3 ? std::string(origin) : std::string();
}

// True when the URL's host is a loopback address (127.0.0.0/8, ::1) or "localhost": where a
// JWKS may come over plain http, since nobody on the network can tamper with it.
bool is_loopback_url(std::string_view text) {
  auto url = boost::urls::parse_uri(text);
  if (!url) {
    return false;
  }
  // The host text itself, parsed whole: a name like 127.0.0.1.evil.example is not an address.
  std::string host = config_detail::lower(url->encoded_host_address());
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return host == "localhost";
}

void read_jwt(config_detail::parser& p, const config_detail::field& at, auth_config& out) {
  const auto map = p.read_map(at, jwt_keys,
                              "a map like { issuer: https://auth.example.com, "
                              "jwks_file: jwks.json }");
  if (!map) {
    return;
  }
  jwt_settings jwt;
  jwt.line = at.line;
  if (const auto* issuer = map->get("issuer")) {
    jwt.rules.issuer = p.read_scalar(*issuer, "the issuer URL tokens carry in iss").value_or("");
  } else {
    p.missing(*map, "issuer", "tokens are only accepted from a named issuer");
  }
  if (const auto* audience = map->get("audience")) {
    if (audience->node.IsScalar()) {
      jwt.rules.audiences.push_back(audience->node.Scalar());
    } else {
      jwt.rules.audiences =
          p.read_strings(*audience, "an audience or a list of them").value_or(jwt.rules.audiences);
    }
  }
  if (const auto* claim = map->get("tenant_claim")) {
    jwt.rules.tenant_claim = p.read_scalar(*claim, "a claim name, like org").value_or("");
  }
  if (const auto* leeway = map->get("leeway")) {
    duration d{};
    p.read_duration(*leeway, d, config_detail::zero_policy::allow);
    jwt.rules.leeway = std::chrono::duration_cast<std::chrono::seconds>(d);
  }
  if (const auto* algs = map->get("algorithms")) {
    if (auto list = p.read_strings(*algs, "a list like [RS256, ES256]")) {
      for (const auto& alg : *list) {
        if (!config_detail::contains(supported_algorithms, alg)) {
          p.error(*algs, "unsupported algorithm " + quote_value(alg) + "; expected one of " +
                             config_detail::join(supported_algorithms));
        }
      }
      jwt.rules.algorithms = std::move(*list);
    }
  }
  if (const auto* file = map->get("jwks_file")) {
    p.read_file_name(*file, jwt.jwks_file);
    if (!jwt.jwks_file.empty()) {
      std::ifstream in(jwt.jwks_file, std::ios::binary);
      std::string text;
      if (in) {
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      }
      if (!in && !in.eof()) {
        p.error(*file, "cannot read " + quote_value(jwt.jwks_file) +
                           " (relative paths start at the gateway's working directory)");
      } else if (text.size() > auth::max_jwks_bytes) {
        p.error(*file, "the JWKS is over 1 MiB; expected a few public keys");
      } else {
        auth::jwks_result keys = auth::parse_jwks(text);
        if (!keys.keys) {
          p.error(*file, quote_value(jwt.jwks_file) + ": " + keys.error);
        }
        jwt.keys = std::move(keys.keys);
      }
    }
  }
  const auto* url = map->get("jwks_url");
  if (url != nullptr) {
    if (auto text = p.read_value(*url, value_kind::http_url)) {
      jwt.fetch.url = *text;
      if (!text->starts_with("https://") && !is_loopback_url(*text)) {
        p.error(*url,
                "expected an https URL (plain http only on loopback), got " + quote_value(*text));
      }
    }
    if (map->get("jwks_file") != nullptr) {
      p.error(*url, "set jwks_file or jwks_url, not both");
    }
  } else if (map->get("jwks_file") == nullptr) {
    p.missing(*map, "jwks_file",
              "the issuer's public keys are needed: jwks_file (a JWKS document) or jwks_url");
  }
  if (const auto* refresh = map->get("jwks_refresh")) {
    p.read_duration(*refresh, jwt.fetch.refresh, config_detail::zero_policy::reject);
  }
  // Unknown key ids trigger a fetch at most this often: never more than every 30 s, or than
  // the period when it is shorter.
  jwt.fetch.min_refresh = std::min<duration>(jwt.fetch.min_refresh, jwt.fetch.refresh);
  if (const auto* ca = map->get("jwks_ca_file")) {
    p.read_file_name(*ca, jwt.fetch.ca_file);
  }
  out.jwt = std::move(jwt);
}

void read_cache(config_detail::parser& p, const config_detail::field& at,
                auth::credential_cache_settings& out) {
  const auto map = p.read_map(at, cache_keys, "a map like { max_entries: 4096, max_age: 5m }");
  if (!map) {
    return;
  }
  if (const auto* n = map->get("max_entries")) {
    out.max_entries = p.read_count(*n).value_or(out.max_entries);
    if (out.max_entries > max_cache_entries) {
      p.error(*n, "at most " + std::to_string(max_cache_entries) + " entries, got " +
                      std::to_string(out.max_entries) + "; 0 turns the cache off");
    }
  }
  if (const auto* age = map->get("max_age")) {
    duration d = out.max_age;
    p.read_duration(*age, d, config_detail::zero_policy::reject);
    out.max_age = std::chrono::duration_cast<std::chrono::seconds>(d);
    if (out.max_age.count() < 1) {
      p.error(*age, "at least 1s; to verify every request, set max_entries: 0");
    }
  }
}

}  // namespace

std::shared_ptr<const filter_factory> parse_auth(config_detail::parser& p,
                                                 const config_detail::field& at) {
  auth_config out;
  out.line = at.line;
  if (at.node.IsNull()) {
    return std::make_shared<factory>(std::move(out));  // `- auth:` with nothing: API keys only
  }
  const auto map =
      p.read_map(at, auth_keys, "a map like { resource: https://mcp.example.com/mcp }");
  if (!map) {
    return nullptr;
  }
  if (const auto* resource = map->get("resource")) {
    out.resource = p.read_scalar(*resource, "the gateway's public URL").value_or("");
    out.origin = origin_of(out.resource);
    if (out.origin.empty() || out.resource.find('#') != std::string::npos) {
      p.error(*resource,
              "expected an absolute https URL without a fragment, like "
              "https://mcp.example.com/mcp, got " +
                  quote_value(out.resource));
    }
  }
  if (const auto* servers = map->get("authorization_servers")) {
    if (auto list = p.read_strings(*servers, "a list of authorization server URLs")) {
      for (const auto& url : *list) {
        if (origin_of(url).empty()) {
          p.error(*servers, "expected absolute http(s) URLs, got " + quote_value(url));
        }
      }
      out.authorization_servers = std::move(*list);
    }
  }
  if (const auto* header = map->get("api_key_header")) {
    out.api_key_header = p.read_scalar(*header, "a header name, like X-Api-Key").value_or("");
    if (config_detail::lower(out.api_key_header) == "authorization") {
      out.api_key_header.clear();  // already read
    }
  }
  if (const auto* scopes = map->get("scopes_supported")) {
    out.scopes_supported =
        p.read_strings(*scopes, "a list of scope names").value_or(out.scopes_supported);
  }
  if (const auto* jwt = map->get("jwt")) {
    read_jwt(p, *jwt, out);
    if (out.jwt && out.resource.empty() && out.jwt->rules.audiences.empty()) {
      p.error(*jwt,
              "tokens need an audience to be checked against: set auth.resource (the "
              "gateway's public URL) or jwt.audience");
    }
  }
  if (const auto* cache = map->get("credential_cache")) {
    read_cache(p, *cache, out.cache);
  }
  if (!out.authorization_servers.empty() && out.resource.empty()) {
    p.missing(*map, "resource",
              "authorization_servers are published in the protected resource metadata of "
              "`resource`, the gateway's public URL");
  }
  if (out.jwt && !out.resource.empty() && out.authorization_servers.empty()) {
    p.missing(*map, "authorization_servers",
              "clients discover where to get tokens from the protected resource metadata "
              "(RFC 9728), which must name at least one authorization server");
  }
  return std::make_shared<factory>(std::move(out));
}

}  // namespace mcpgw::plugins
