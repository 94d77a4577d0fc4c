#include "audit/redact.h"

#include "auth/api_keys.h"

#include "mcpgw/hex.h"
#include "mcpgw/http_headers.h"
#include "mcpgw/jsonrpc.h"

#include <simdjson.h>

#include <algorithm>
#include <array>

namespace mcpgw::plugins::audit {
namespace {

constexpr std::string_view redacted = "\"[redacted]\"";

// A path segment list matches the current position (keys from the root).
bool path_matches(std::string_view path, const std::vector<std::string>& at) {
  std::size_t i = 0;
  while (!path.empty()) {
    const std::size_t dot = path.find('.');
    const std::string_view segment = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    if (i >= at.size() || (segment != "*" && segment != at[i])) {
      return false;
    }
    ++i;
  }
  return i == at.size();
}

// Whether simdjson writes `text` as it is between its quotes: nothing in it to escape.
bool plain(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\';
  });
}

// The value re-serialized with its secrets redacted. `verbatim` is cleared when the result
// is not simdjson's minified text of the value (something was redacted or escaped).
void write(simdjson::dom::element value, const redaction_rules& rules, std::vector<std::string>& at,
           std::string& out, bool& verbatim) {
  for (const auto& path : rules.paths) {
    if (!at.empty() && path_matches(path, at)) {
      out += redacted;
      verbatim = false;
      return;
    }
  }
  switch (value.type()) {
    case simdjson::dom::element_type::OBJECT: {
      out += '{';
      bool first = true;
      for (auto [key, child] : simdjson::dom::object(value)) {
        out += first ? "" : ",";
        first = false;
        jsonrpc::append_quoted(out, key);
        verbatim = verbatim && plain(key);
        out += ':';
        if (secret_looking_key(key)) {
          out += redacted;
          verbatim = false;
          continue;
        }
        // The path is tracked only for path rules: a key copy per key otherwise.
        if (rules.paths.empty()) {
          write(child, rules, at, out, verbatim);
          continue;
        }
        at.emplace_back(key);
        write(child, rules, at, out, verbatim);
        at.pop_back();
      }
      out += '}';
      return;
    }
    case simdjson::dom::element_type::ARRAY: {
      out += '[';
      std::size_t index = 0;
      for (simdjson::dom::element child : simdjson::dom::array(value)) {
        out += index ? "," : "";
        if (rules.paths.empty()) {
          ++index;
          write(child, rules, at, out, verbatim);
          continue;
        }
        at.push_back(std::to_string(index++));
        write(child, rules, at, out, verbatim);
        at.pop_back();
      }
      out += ']';
      return;
    }
    case simdjson::dom::element_type::STRING: {
      std::string_view text = value.get_string().value_unsafe();
      if (secret_looking_value(text)) {
        out += redacted;
        verbatim = false;
      } else {
        jsonrpc::append_quoted(out, text);
        verbatim = verbatim && plain(text);
      }
      return;
    }
    default:
      out += simdjson::to_string(value);
  }
}

}  // namespace

bool secret_looking_key(std::string_view key) {
  static constexpr std::array<std::string_view, 10> words{
      "password",      "secret",     "token",       "api_key", "apikey",
      "authorization", "credential", "private_key", "cookie",  "passwd"};
  return std::any_of(words.begin(), words.end(),
                     [&](std::string_view w) { return http_headers::icontains(key, w); });
}

bool secret_looking_value(std::string_view value) {
  if (http_headers::istarts_with(value, "bearer ") || http_headers::istarts_with(value, "basic ") ||
      value.find("-----BEGIN") != std::string_view::npos) {
    return true;
  }
  // A JWT: three base64url parts, the first a JSON header ("eyJ").
  return value.starts_with("eyJ") && std::count(value.begin(), value.end(), '.') == 2 &&
         value.size() > 40;
}

namespace {

// The SHA-256 of `text` in hex, kept in the object (no allocation per record).
inline_text<64> digest_of(std::string_view text) {
  const sha256_digest bytes = sha256_bytes(text);
  char digits[64];
  hex::write(digits, bytes.data(), bytes.size());
  inline_text<64> out;
  out.assign(std::string_view(digits, sizeof digits));
  return out;
}

// Writes the redacted arguments into `text` (emptied first) and returns their digest.
inline_text<64> audit_element(simdjson::dom::element arguments, const redaction_rules& rules,
                              std::string& text) {
  text.clear();
  std::vector<std::string> at;
  bool verbatim = true;
  write(arguments, rules, at, text, verbatim);
  // The digest is of the minified arguments: when nothing was redacted or escaped, that is
  // the text just written, and the value is not serialized a second time.
  inline_text<64> digest = verbatim ? digest_of(text) : digest_of(simdjson::to_string(arguments));
  if (text.size() > rules.max_bytes) {
    const std::size_t size = text.size();
    text = "{\"truncated\":" + std::to_string(size) + "}";
    text.shrink_to_fit();  // the record does not hold the long text's buffer until it ends
  }
  return digest;
}

audited_arguments audit_element(simdjson::dom::element arguments, const redaction_rules& rules) {
  audited_arguments out;
  out.digest = audit_element(arguments, rules, out.redacted);
  return out;
}

}  // namespace

audited_arguments audit_arguments(std::string_view message, const redaction_rules& rules) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::element arguments;
  // Copied into the parser's own padded buffer, which it keeps: no allocation per message.
  if (parser.parse(message.data(), message.size()).get(root) != simdjson::SUCCESS ||
      root["params"]["arguments"].get(arguments) != simdjson::SUCCESS) {
    return {};
  }
  return audit_element(arguments, rules);
}

audited_arguments audit_argument_value(std::string_view arguments, const redaction_rules& rules) {
  audited_arguments out;
  out.digest = audit_argument_value(arguments, rules, out.redacted);
  return out;
}

inline_text<64> audit_argument_value(std::string_view arguments, const redaction_rules& rules,
                                     std::string& redacted) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element value;
  if (arguments.empty() ||
      parser.parse(arguments.data(), arguments.size()).get(value) != simdjson::SUCCESS) {
    redacted.clear();
    return {};
  }
  return audit_element(value, rules, redacted);
}

std::string redact_arguments(std::string_view arguments, const redaction_rules& rules) {
  if (arguments.empty()) {
    return {};
  }
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(arguments.data(), arguments.size()).get(root) != simdjson::SUCCESS) {
    return {};
  }
  std::string out;
  std::vector<std::string> at;
  bool verbatim = true;
  write(root, rules, at, out, verbatim);
  if (out.size() > rules.max_bytes) {
    return "{\"truncated\":" + std::to_string(out.size()) + "}";
  }
  return out;
}

}  // namespace mcpgw::plugins::audit
