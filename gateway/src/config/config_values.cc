// The scalar value syntaxes of gateway.yaml (durations, sizes, host:port, hosts, URLs, origins)
// and the wording of their errors, kept apart from the YAML walk in config.cc.
#include "mcpgw/config.h"

#include <boost/url/ipv6_address.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace mcpgw {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

struct number_and_suffix {
  std::uint64_t number = 0;
  std::string_view suffix;
};

// Splits "500ms" into 500 and "ms". The number must be plain decimal digits: no sign, no
// fraction, no spaces, so "-5s", "+5s", "1.5s" and " 5s" are all rejected here.
std::optional<number_and_suffix> split_number(std::string_view text) {
  const auto digits_end =
      std::find_if(text.begin(), text.end(), [](char c) { return !is_digit(c); });
  const auto digit_count = static_cast<std::size_t>(digits_end - text.begin());
  if (digit_count == 0) {
    return std::nullopt;
  }
  number_and_suffix out;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + digit_count, out.number);
  if (ec != std::errc{} || ptr != text.data() + digit_count) {
    return std::nullopt;  // out of range for 64 bits
  }
  out.suffix = text.substr(digit_count);
  return out;
}

// number * multiplier, or nullopt when it does not fit in max.
std::optional<std::uint64_t> checked_multiply(std::uint64_t number, std::uint64_t multiplier,
                                              std::uint64_t max) {
  if (multiplier != 0 && number > max / multiplier) {
    return std::nullopt;
  }
  return number * multiplier;
}

bool is_host_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

// A DNS name or dotted IPv4 address. Deliberately loose on label rules (resolvers differ), strict
// on the character set so that ports, paths, spaces and wildcards are caught at start-up.
bool is_host_name(std::string_view text) {
  constexpr std::size_t max_host_name = 253;
  return !text.empty() && text.size() <= max_host_name &&
         std::all_of(text.begin(), text.end(), is_host_name_char);
}

bool is_ipv6_address(std::string_view text) {
  return !text.empty() && !boost::urls::parse_ipv6_address(text).has_error();
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  constexpr std::size_t max_port_digits = 5;
  if (text.empty() || text.size() > max_port_digits ||
      !std::all_of(text.begin(), text.end(), is_digit)) {
    return std::nullopt;
  }
  unsigned value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  if (value > std::numeric_limits<std::uint16_t>::max()) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

// --- why a value did not parse, appended to "expected X, got Y" ---

bool contains(std::span<const std::string_view> set, std::string_view word) {
  return std::find(set.begin(), set.end(), word) != set.end();
}

std::string number_hint(std::string_view text, std::span<const std::string_view> units,
                        std::string_view unit_list) {
  if (!text.empty() && text.front() == '-') {
    return " (must not be negative)";
  }
  const auto digits_end =
      std::find_if(text.begin(), text.end(), [](char c) { return !is_digit(c); });
  const auto digit_count = static_cast<std::size_t>(digits_end - text.begin());
  if (digit_count == 0) {
    return "";
  }
  const auto unit = text.substr(digit_count);
  if (contains(units, unit)) {
    return " (too large)";  // the only way digits and a known unit can fail
  }
  if (unit.empty()) {
    return " (missing unit: " + std::string(unit_list) + ")";
  }
  if (unit.front() == '.' || unit.front() == ',') {
    return " (whole numbers only)";
  }
  return " (unknown unit " + quote_value(unit) + "; use " + std::string(unit_list) + ")";
}

std::string duration_hint(std::string_view text) {
  constexpr std::array<std::string_view, 4> units{"ms", "s", "m", "h"};
  return number_hint(text, units, "ms, s, m or h");
}

std::string size_hint(std::string_view text) {
  constexpr std::array<std::string_view, 9> units{"", "B", "KiB", "MiB", "GiB", "k", "K", "M", "G"};
  return number_hint(text, units, "B, KiB, MiB, GiB, k, M or G");
}

std::string count_hint(std::string_view text) {
  if (!text.empty() && text.front() == '-') {
    return " (must not be negative)";
  }
  const bool all_digits = !text.empty() && std::all_of(text.begin(), text.end(), is_digit);
  return all_digits ? " (too large)" : "";
}

std::string port_hint(std::string_view port) {
  return port.empty() ? " (missing port)" : " (port must be a number from 0 to 65535)";
}

std::string host_port_hint(std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return " (missing closing bracket)";
    }
    if (!is_ipv6_address(text.substr(1, close - 1))) {
      return " (brackets are for IPv6 addresses only)";
    }
    const auto rest = text.substr(close + 1);
    if (rest.empty()) {
      return " (missing port)";
    }
    return rest.front() == ':' ? port_hint(rest.substr(1)) : " (expected ':' after ']')";
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return " (missing port)";
  }
  if (text.find(':') != colon) {
    return " (write IPv6 addresses in brackets, like [::1]:8080)";
  }
  const auto host = text.substr(0, colon);
  if (host.empty()) {
    return " (missing host; use 0.0.0.0 for all interfaces)";
  }
  return is_host_name(host) ? port_hint(text.substr(colon + 1)) : " (invalid host name)";
}

std::string host_hint(std::string_view text) {
  return text.find(':') != std::string_view::npos ? " (no port here; IPv6 like ::1 or [::1])" : "";
}

std::string url_hint(std::string_view text) {
  const auto url = boost::urls::parse_uri(text);
  if (url.has_error()) {
    return " (not a valid URL)";
  }
  if (url->scheme_id() != boost::urls::scheme::http &&
      url->scheme_id() != boost::urls::scheme::https) {
    return " (the scheme must be http or https)";
  }
  if (!url->has_authority() || url->encoded_host().empty()) {
    return " (missing host)";
  }
  // Boost.URL 1.81 takes "http://127.0.0.1.evil.example/x" as host 127.0.0.1 and path
  // ".evil.example/x"; RFC 3986 says a path after the authority starts with '/'.
  if (!url->encoded_path().empty() && url->encoded_path().front() != '/') {
    return " (the host is not a valid name or address)";
  }
  // The backend client would silently drop these, so say so at start-up instead.
  if (url->has_userinfo()) {
    return " (user names and passwords in the URL are not supported)";
  }
  if (url->has_port() && url->port_number() == 0) {
    return " (port must be a number from 1 to 65535)";
  }
  if (url->has_fragment()) {
    return " (a #fragment is never sent to a server)";
  }
  return "";
}

// An entry that is not exactly scheme://host[:port] could never equal an Origin header.
std::string origin_hint(std::string_view text) {
  const auto url = boost::urls::parse_uri(text);
  if (url.has_error() || !url->has_authority() || url->encoded_host().empty()) {
    return " (an origin is scheme://host[:port])";
  }
  if (url->has_userinfo()) {
    return " (an origin has no user name)";
  }
  if (url->has_port() && url->port_number() == 0) {
    return " (port must be a number from 1 to 65535)";
  }
  if (!url->encoded_path().empty() || url->has_query() || url->has_fragment()) {
    return " (an origin has no path, query or fragment, not even a trailing '/')";
  }
  return "";
}

constexpr std::array<std::string_view, 3> true_words{"true", "True", "TRUE"};
constexpr std::array<std::string_view, 3> false_words{"false", "False", "FALSE"};
// YAML 1.1 booleans: yaml-cpp would accept them, YAML 1.2 reads them as strings.
constexpr std::array<std::string_view, 6> yaml11_bool_words{"yes", "no", "on", "off", "y", "n"};
constexpr std::array<std::string_view, 4> log_level_words{"debug", "info", "warn", "error"};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
}

// Printable ASCII without spaces; '?' and '#' would start a query or fragment, never a path.
bool is_route_path(std::string_view path) {
  return !path.empty() && path.front() == '/' && std::all_of(path.begin(), path.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > ' ' && u < 0x7f && c != '?' && c != '#';
  });
}

bool is_count(std::string_view text) {
  std::size_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && is_digit(text.front()) && ec == std::errc{} &&
         ptr == text.data() + text.size();
}

}  // namespace

std::optional<duration> parse_duration(std::string_view text) {
  const auto parts = split_number(text);
  if (!parts) {
    return std::nullopt;
  }
  std::uint64_t unit_ms = 0;
  if (parts->suffix == "ms") {
    unit_ms = 1;
  } else if (parts->suffix == "s") {
    unit_ms = 1000;
  } else if (parts->suffix == "m") {
    unit_ms = 60 * 1000;
  } else if (parts->suffix == "h") {
    unit_ms = 60 * 60 * 1000;
  } else {
    return std::nullopt;  // a bare number is ambiguous: seconds or milliseconds?
  }
  const auto max_ms = static_cast<std::uint64_t>(std::numeric_limits<duration::rep>::max());
  const auto ms = checked_multiply(parts->number, unit_ms, max_ms);
  if (!ms) {
    return std::nullopt;
  }
  return duration(static_cast<duration::rep>(*ms));
}

std::optional<std::size_t> parse_size(std::string_view text) {
  const auto parts = split_number(text);
  if (!parts) {
    return std::nullopt;
  }
  constexpr std::uint64_t kib = 1024;
  std::uint64_t multiplier = 0;
  if (parts->suffix.empty() || parts->suffix == "B") {
    multiplier = 1;
  } else if (parts->suffix == "KiB" || parts->suffix == "k" || parts->suffix == "K") {
    multiplier = kib;
  } else if (parts->suffix == "MiB" || parts->suffix == "M") {
    multiplier = kib * kib;
  } else if (parts->suffix == "GiB" || parts->suffix == "G") {
    multiplier = kib * kib * kib;
  } else {
    return std::nullopt;
  }
  const auto bytes =
      checked_multiply(parts->number, multiplier, std::numeric_limits<std::size_t>::max());
  if (!bytes) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(*bytes);
}

std::optional<host_port> parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view rest;  // ":port"
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
    if (!is_ipv6_address(host)) {
      return std::nullopt;  // brackets are for IPv6 only, as in URLs
    }
  } else {
    const auto colon = text.find(':');
    // A second colon means an unbracketed IPv6 address: "::1:8080" is ambiguous.
    if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(0, colon);
    rest = text.substr(colon);
    if (!is_host_name(host)) {
      return std::nullopt;
    }
  }
  if (rest.empty() || rest.front() != ':') {
    return std::nullopt;
  }
  const auto port = parse_port(rest.substr(1));
  if (!port) {
    return std::nullopt;
  }
  return host_port{std::string(host), *port};
}

const char* workers_refusal(const gateway_config& config) {
  if (config.tls) {
    // A connection moves to the worker that holds its session by its descriptor, which a TLS
    // connection's state does not travel with.
    return "tls runs one worker for now (connections move between workers on plain TCP only)";
  }
  if (config.cluster) {
    return "a cluster replica runs one worker for now (the replica is its sessions' owner)";
  }
  return nullptr;
}

std::optional<std::size_t> parse_workers(std::string_view text) {
  if (text == "auto") {
    return 0;
  }
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > max_workers) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::string> parse_host(std::string_view text) {
  std::string_view host = text;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (!is_ipv6_address(host)) {
      return std::nullopt;
    }
  } else if (host.find(':') != std::string_view::npos) {
    if (!is_ipv6_address(host)) {
      return std::nullopt;  // most likely "name:port"
    }
  } else if (!is_host_name(host)) {
    return std::nullopt;
  }
  return lower(host);
}

std::string_view value_expectation(value_kind kind) {
  switch (kind) {
    case value_kind::time_span:
      return "a duration like 500ms, 60s, 30m or 1h";
    case value_kind::size:
      return "a size like 4MiB, 512KiB, 16k or 1048576";
    case value_kind::count:
      return "a whole number like 1000";
    case value_kind::boolean:
      return "true or false";
    case value_kind::name:
      return "a name of letters, digits, '-', '_' and '.', like demo";
    case value_kind::host_port:
      return "host:port like 127.0.0.1:8080 or [::1]:8080";
    case value_kind::host:
      return "a host name or IP address without port, like example.com or ::1";
    case value_kind::http_url:
      return "an http:// or https:// URL like http://127.0.0.1:3311/mcp";
    case value_kind::origin:
      return "an origin like https://app.example.com or http://localhost:5173";
    case value_kind::route_path:
      return "a path starting with '/', like /mcp";
    case value_kind::log_level:
      return "one of debug, info, warn, error";
  }
  return "a value";
}

std::string value_error(value_kind kind, std::string_view text) {
  // An empty hint with a valid value means "no error"; the parse_* functions decide validity.
  bool valid = false;
  std::string hint;
  switch (kind) {
    case value_kind::time_span:
      valid = parse_duration(text).has_value();
      hint = valid ? "" : duration_hint(text);
      break;
    case value_kind::size:
      valid = parse_size(text).has_value();
      hint = valid ? "" : size_hint(text);
      break;
    case value_kind::count:
      valid = is_count(text);
      hint = valid ? "" : count_hint(text);
      break;
    case value_kind::boolean:
      valid = contains(true_words, text) || contains(false_words, text);
      hint = contains(yaml11_bool_words, lower(text))
                 ? " (yes, no, on and off are not booleans here)"
                 : "";
      break;
    case value_kind::name:
      valid = !text.empty() && std::all_of(text.begin(), text.end(), is_name_char);
      break;
    case value_kind::host_port:
      valid = parse_host_port(text).has_value();
      hint = valid ? "" : host_port_hint(text);
      break;
    case value_kind::host:
      valid = parse_host(text).has_value();
      hint = valid ? "" : host_hint(text);
      break;
    case value_kind::http_url:
      hint = url_hint(text);
      valid = hint.empty();
      break;
    case value_kind::origin:
      hint = origin_hint(text);
      valid = hint.empty();
      break;
    case value_kind::route_path:
      valid = is_route_path(text);
      hint = !valid && !text.empty() && text.front() == '/' ? " (no spaces, '?' or '#')" : "";
      break;
    case value_kind::log_level:
      valid = contains(log_level_words, text);
      break;
  }
  if (valid) {
    return "";
  }
  return "expected " + std::string(value_expectation(kind)) + ", got " + quote_value(text) + hint;
}

std::string quote_value(std::string_view text) {
  constexpr std::size_t max_shown = 60;
  std::string out = "\"";
  for (const char c : text.substr(0, max_shown)) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (std::iscntrl(static_cast<unsigned char>(c)) != 0) {
      out += '?';  // a control character would break the one-line message
    } else {
      out += c;
    }
  }
  out += text.size() > max_shown ? "...\"" : "\"";
  return out;
}

}  // namespace mcpgw
