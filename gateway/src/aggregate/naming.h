// How an aggregated route shows its backends' names to clients, without I/O: tool and prompt
// names get the backend's prefix (tool names stay within 64 characters), resource URIs a
// scheme prefix, and list cursors of several backends travel as one. Unit-tested.
#pragma once

#include "mcpgw/config.h"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgw::aggregate {

// Many clients refuse longer tool names (and the pattern ^[A-Za-z0-9_.-]{1,64}$).
inline constexpr std::size_t max_tool_name = 64;

// prefix + separator + name. A tool name longer than max_tool_name keeps its first 55 bytes
// (cut at a UTF-8 character boundary), then '_' and the first 8 hex digits of the SHA-256 of
// the whole prefixed name: the same backend name always gives the same short name, and two
// long names that share their first 55 bytes still differ.
std::string visible_name(const route_member& m, std::string_view name, bool is_tool);

// uri_prefix + "+" + uri ("files+file:///a"); the URI itself when the backend has no prefix.
std::string visible_uri(const route_member& m, std::string_view uri);

// The member a URI a client sent belongs to (the one whose "uri_prefix+" begins it, else the
// member without a prefix), and the backend's own URI in `original`; nullopt when none.
std::optional<std::size_t> resolve_uri(std::span<const route_member> members, std::string_view uri,
                                       std::string& original);

// A list cursor on an aggregated route: for each backend with more to list, its index on the
// route and the backend's own cursor. Opaque to clients (base64url).
struct page_position {
  std::size_t member = 0;
  std::string cursor;
};
std::string encode_cursor(char kind, std::span<const page_position> pending);
// nullopt when `text` is not a cursor of this kind for a route of `members` backends.
std::optional<std::vector<page_position>> decode_cursor(char kind, std::string_view text,
                                                        std::size_t members);

// What a server offers, read from its result.capabilities.
struct capability_set {
  bool tools = false;
  bool prompts = false;
  bool resources = false;
  bool subscribe = false;  // resources.subscribe
  bool completions = false;
  bool logging = false;
  capability_set& operator|=(const capability_set& other);
};
capability_set read_capabilities(std::string_view json);
// The capabilities an aggregated route offers, as JSON: what some backend offers, with
// listChanged for tools, prompts and resources (backends joining and leaving change the lists).
std::string offer(const capability_set& caps);

}  // namespace mcpgw::aggregate
