// Parsing of the request headers the Streamable HTTP transport depends on (sans-I/O):
// Accept, Content-Type, MCP-Protocol-Version, Host and Origin.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::http_headers {

struct accepted {
  bool json = false;
  bool event_stream = false;
};
// Parses an Accept list: media ranges with wildcards, q=0 excluded, case-insensitive.
accepted parse_accept(std::string_view accept);

// True when the Content-Type essence is application/json (parameters such as charset ignored).
bool is_json_content_type(std::string_view content_type);

// Protocol revisions the client side speaks, newest first.
std::span<const std::string_view> supported_protocol_versions();
bool is_supported_protocol_version(std::string_view version);
// The version to answer an initialize with: the client's if supported, else our newest.
std::string_view negotiate_protocol_version(std::string_view requested);
// Versions are dates; string comparison orders them.
inline bool at_least(std::string_view version, std::string_view than) { return version >= than; }

// The host part of a Host header value ("example.com:8080" -> "example.com",
// "[::1]:80" -> "::1"), lower-cased. Empty when malformed.
std::string host_of_authority(std::string_view authority);
// The host part of an Origin ("http://localhost:3000" -> "localhost"); empty when malformed
// or "null".
std::string host_of_origin(std::string_view origin);

// Host allowed when its host part is in `allowed_hosts` (lower-case, IPv6 unbracketed).
bool host_allowed(std::string_view host_header, const std::vector<std::string>& allowed_hosts);
// Origin allowed when listed exactly in `allowed_origins`, or, when that list is empty, when
// its host is an allowed host.
bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed_origins,
                    const std::vector<std::string>& allowed_hosts);

// ASCII case folding, without the C locale's function call per character: header names,
// media types and schemes are ASCII.
constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
bool iequals(std::string_view a, std::string_view b);
// Whether `text` contains `lower_needle` (already lower-case), ignoring ASCII case.
bool icontains(std::string_view text, std::string_view lower_needle);
// Whether `text` starts with `lower_prefix` (already lower-case), ignoring ASCII case.
bool istarts_with(std::string_view text, std::string_view lower_prefix);

}  // namespace mcpgw::http_headers
