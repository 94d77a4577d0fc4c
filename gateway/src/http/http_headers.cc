#include "mcpgw/http_headers.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace mcpgw::http_headers {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) { return ascii_lower(c); });
  return out;
}

constexpr std::array<std::string_view, 3> versions = {"2025-11-25", "2025-06-18", "2025-03-26"};

// Eight bytes with 'A'-'Z' made lowercase and every other byte as it was (SWAR).
std::uint64_t lower_word(std::uint64_t w) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  const std::uint64_t heptets = w & ~highs;
  const std::uint64_t at_least_a = heptets + ones * (0x80 - 'A');  // high bit: byte >= 'A'
  const std::uint64_t past_z = heptets + ones * (0x80 - 'Z' - 1);  // high bit: byte > 'Z'
  const std::uint64_t upper = at_least_a & ~past_z & ~w & highs;   // and below 0x80
  return w | (upper >> 2);                                         // 0x80 >> 2 is 0x20
}

std::uint64_t load_word(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  const std::size_t n = a.size();
  if (n < 8) {
    return std::equal(a.begin(), a.end(), b.begin(),
                      [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
  }
  // Eight bytes at a time, the last word overlapping the one before it: header names are
  // compared this way a dozen times a request.
  for (std::size_t at = 0; at < n; at += 8) {
    const std::size_t from = at + 8 <= n ? at : n - 8;
    if (lower_word(load_word(a.data() + from)) != lower_word(load_word(b.data() + from))) {
      return false;
    }
  }
  return true;
}

bool istarts_with(std::string_view text, std::string_view lower_prefix) {
  return text.size() >= lower_prefix.size() &&
         std::equal(lower_prefix.begin(), lower_prefix.end(), text.begin(),
                    [](char p, char t) { return p == ascii_lower(t); });
}

bool icontains(std::string_view text, std::string_view lower_needle) {
  if (lower_needle.empty()) {
    return true;
  }
  for (std::size_t at = 0; at + lower_needle.size() <= text.size(); ++at) {
    if (istarts_with(text.substr(at), lower_needle)) {
      return true;
    }
  }
  return false;
}

accepted parse_accept(std::string_view accept) {
  accepted out;
  while (!accept.empty()) {
    std::size_t comma = accept.find(',');
    std::string_view item = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    std::size_t semi = item.find(';');
    std::string_view range = trim(item.substr(0, semi));
    bool excluded = false;
    while (semi != std::string_view::npos) {
      item = item.substr(semi + 1);
      semi = item.find(';');
      std::string_view param = trim(item.substr(0, semi));
      if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
        std::string_view q = param.substr(2);
        excluded = !q.empty() && q.find_first_not_of("0.") == std::string_view::npos;
      }
    }
    if (excluded) {
      continue;
    }
    if (range == "*/*") {
      out.json = out.event_stream = true;
    } else if (iequals(range, "application/json") || iequals(range, "application/*")) {
      out.json = true;
    } else if (iequals(range, "text/event-stream") || iequals(range, "text/*")) {
      out.event_stream = true;
    }
  }
  return out;
}

bool is_json_content_type(std::string_view content_type) {
  std::string_view essence = trim(content_type.substr(0, content_type.find(';')));
  return iequals(essence, "application/json");
}

std::span<const std::string_view> supported_protocol_versions() { return versions; }

bool is_supported_protocol_version(std::string_view version) {
  return std::find(versions.begin(), versions.end(), version) != versions.end();
}

std::string_view negotiate_protocol_version(std::string_view requested) {
  return is_supported_protocol_version(requested) ? requested : versions.front();
}

namespace {

bool all_digits(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The host part of an authority as it was written (not lower-cased), or empty when malformed:
// what host_of_authority lower-cases and host_allowed compares without a copy.
std::string_view host_part(std::string_view authority) {
  authority = trim(authority);
  if (authority.empty()) {
    return {};
  }
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return {};
    }
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || rest.size() == 1 || !all_digits(rest.substr(1)))) {
      return {};
    }
    return authority.substr(1, close - 1);
  }
  const std::size_t colon = authority.find(':');
  if (colon != std::string_view::npos) {
    const std::string_view port = authority.substr(colon + 1);
    if (port.empty() || !all_digits(port)) {
      return {};
    }
    authority = authority.substr(0, colon);
  }
  for (char c : authority) {
    if (c == '/' || c == '@' || c == '?' || c == '#' || c == ' ') {
      return {};
    }
  }
  return authority;
}

}  // namespace

std::string host_of_authority(std::string_view authority) { return lower(host_part(authority)); }

std::string host_of_origin(std::string_view origin) {
  origin = trim(origin);
  std::size_t scheme_end = origin.find("://");
  if (scheme_end == std::string_view::npos) {
    return {};
  }
  std::string_view authority = origin.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find('/'));
  return host_of_authority(authority);
}

bool host_allowed(std::string_view host_header, const std::vector<std::string>& allowed_hosts) {
  // Every request is checked: compared in place, ignoring case, against the lower-case list.
  const std::string_view host = host_part(host_header);
  if (host.empty()) {
    return false;
  }
  return std::any_of(allowed_hosts.begin(), allowed_hosts.end(), [&](const std::string& allowed) {
    return allowed == "*" || iequals(host, allowed);
  });
}

bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed_origins,
                    const std::vector<std::string>& allowed_hosts) {
  std::string_view trimmed = trim(origin);
  if (!allowed_origins.empty()) {
    for (const auto& allowed : allowed_origins) {
      if (allowed == "*" || iequals(allowed, trimmed)) {
        return true;
      }
    }
    return false;
  }
  std::string host = host_of_origin(trimmed);
  return !host.empty() &&
         std::find(allowed_hosts.begin(), allowed_hosts.end(), host) != allowed_hosts.end();
}

}  // namespace mcpgw::http_headers
