#include "mcpgw/glob.h"

#include "mcpgw/config.h"

namespace mcpgw {

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative matching with one backtrack point: linear in practice, no recursion to blow up
  // on patterns like "*a*a*a*b".
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

bool glob_match_any(std::span<const std::string> patterns, std::string_view text) {
  for (const auto& pattern : patterns) {
    if (glob_match(pattern, text)) {
      return true;
    }
  }
  return false;
}

bool name_filter::admits(std::string_view name) const {
  return (include.empty() || glob_match_any(include, name)) && !glob_match_any(exclude, name);
}

}  // namespace mcpgw
