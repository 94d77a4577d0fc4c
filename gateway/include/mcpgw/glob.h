// Shell-style globs for names in policies and filters: '*' matches any run of characters
// (including none, and '/'), '?' exactly one; everything else matches itself. Case-sensitive.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace mcpgw {

bool glob_match(std::string_view pattern, std::string_view text);
// True when some pattern matches.
bool glob_match_any(std::span<const std::string> patterns, std::string_view text);

}  // namespace mcpgw
