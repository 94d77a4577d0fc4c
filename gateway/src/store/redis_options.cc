#include "store/redis_options.h"

#include <boost/url/parse.hpp>

#include <charconv>

namespace mcpgw {

bool parse_redis_url(std::string_view url, redis_options& out, std::string& error) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    error = "not a URL; expected redis://[[user]:password@]host[:port][/db]";
    return false;
  }
  if (parsed->scheme() != "redis") {
    error = parsed->scheme() == "rediss"
                ? "rediss:// (Redis over TLS) is not supported yet; use redis:// on a trusted "
                  "network or a TLS tunnel"
                : "the scheme must be redis://, got \"" + std::string(parsed->scheme()) + "\"";
    return false;
  }
  if (parsed->host().empty()) {
    error = "the URL has no host";
    return false;
  }
  out.host = parsed->host_type() == boost::urls::host_type::ipv6
                 ? std::string(parsed->encoded_host_address())
                 : std::string(parsed->host());
  if (out.host.size() > 2 && out.host.front() == '[') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  out.port = 6379;
  if (parsed->has_port()) {
    if (parsed->port_number() == 0) {
      error = "the port must be 1 to 65535, got \"" + std::string(parsed->port()) + "\"";
      return false;
    }
    out.port = parsed->port_number();
  }
  if (parsed->has_userinfo()) {
    out.username = parsed->user();
    out.password = parsed->password();
  }
  std::string_view path = parsed->encoded_path();
  out.db = 0;
  if (!path.empty() && path != "/") {
    std::string_view digits = path.substr(1);
    int db = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), db);
    if (path.front() != '/' || ec != std::errc() || end != digits.data() + digits.size() ||
        db < 0) {
      error = "the path must be a database number like /0, got \"" + std::string(path) + "\"";
      return false;
    }
    out.db = db;
  }
  if (parsed->has_query() || parsed->has_fragment()) {
    error = "the URL must not have a query or fragment";
    return false;
  }
  return true;
}

redis_options redis_options_from(const session_store_config& config) {
  redis_options out;
  std::string ignored;
  parse_redis_url(config.url, out, ignored);  // validated when the config was read
  if (!config.password.empty()) {
    out.password = config.password;
  }
  out.command_timeout = config.timeout;
  out.connect_timeout = config.connect_timeout;
  return out;
}

}  // namespace mcpgw
