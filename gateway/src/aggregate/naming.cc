#include "aggregate/naming.h"

#include <openssl/evp.h>
#include <simdjson.h>

#include <array>
#include <charconv>

namespace mcpgw::aggregate {

namespace {

constexpr std::string_view base64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(base64url_alphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) {
    out.push_back(base64url_alphabet[(acc << (6 - bits)) & 0x3f]);
  }
  return out;
}

std::optional<std::string> unbase64url(std::string_view text) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const auto at = base64url_alphabet.find(c);
    if (at == std::string_view::npos) {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(at);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string sha256_hex8(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  static constexpr std::string_view hex = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < 4; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace

std::string visible_name(const route_member& m, std::string_view name, bool is_tool) {
  std::string out;
  if (!m.prefix.empty()) {
    out.reserve(m.prefix.size() + m.separator.size() + name.size());
    out += m.prefix;
    out += m.separator;
  }
  out += name;
  if (!is_tool || out.size() <= max_tool_name) {
    return out;
  }
  std::string hash = sha256_hex8(out);
  std::size_t keep = max_tool_name - 1 - hash.size();
  while (keep > 0 && (static_cast<unsigned char>(out[keep]) & 0xc0) == 0x80) {
    --keep;  // not inside a UTF-8 sequence
  }
  out.resize(keep);
  out += '_';
  out += hash;
  return out;
}

std::string visible_uri(const route_member& m, std::string_view uri) {
  if (m.uri_prefix.empty()) {
    return std::string(uri);
  }
  std::string out;
  out.reserve(m.uri_prefix.size() + 1 + uri.size());
  out += m.uri_prefix;
  out += '+';
  out += uri;
  return out;
}

std::optional<std::size_t> resolve_uri(std::span<const route_member> members, std::string_view uri,
                                       std::string& original) {
  std::optional<std::size_t> unprefixed;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const std::string& p = members[i].uri_prefix;
    if (p.empty()) {
      unprefixed = i;
    } else if (uri.size() > p.size() + 1 && uri.starts_with(p) && uri[p.size()] == '+') {
      original.assign(uri.substr(p.size() + 1));
      return i;
    }
  }
  if (unprefixed) {
    original.assign(uri);
  }
  return unprefixed;
}

// Layout before base64url: the kind, then per backend "<index>:<length>:<cursor>".
std::string encode_cursor(char kind, std::span<const page_position> pending) {
  std::string raw(1, kind);
  for (const page_position& p : pending) {
    raw += std::to_string(p.member);
    raw += ':';
    raw += std::to_string(p.cursor.size());
    raw += ':';
    raw += p.cursor;
  }
  return base64url(raw);
}

std::optional<std::vector<page_position>> decode_cursor(char kind, std::string_view text,
                                                        std::size_t members) {
  std::optional<std::string> raw = unbase64url(text);
  if (!raw || raw->empty() || raw->front() != kind) {
    return std::nullopt;
  }
  std::string_view rest = std::string_view(*raw).substr(1);
  std::vector<page_position> out;
  auto number = [&rest](std::size_t& value) {
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
    if (ec != std::errc() || ptr == rest.data() || ptr == rest.data() + rest.size() ||
        *ptr != ':') {
      return false;
    }
    rest.remove_prefix(static_cast<std::size_t>(ptr - rest.data()) + 1);
    return true;
  };
  while (!rest.empty()) {
    page_position p;
    std::size_t length = 0;
    if (!number(p.member) || !number(length) || length > rest.size() || p.member >= members) {
      return std::nullopt;
    }
    for (const page_position& seen : out) {
      if (seen.member == p.member) {
        return std::nullopt;
      }
    }
    p.cursor.assign(rest.substr(0, length));
    rest.remove_prefix(length);
    out.push_back(std::move(p));
  }
  if (out.empty()) {
    return std::nullopt;
  }
  return out;
}

capability_set& capability_set::operator|=(const capability_set& other) {
  tools |= other.tools;
  prompts |= other.prompts;
  resources |= other.resources;
  subscribe |= other.subscribe;
  completions |= other.completions;
  logging |= other.logging;
  return *this;
}

capability_set read_capabilities(std::string_view json) {
  capability_set out;
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS) {
    return out;
  }
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) {
      break;
    }
    if (key == "tools") {
      out.tools = true;
    } else if (key == "prompts") {
      out.prompts = true;
    } else if (key == "completions") {
      out.completions = true;
    } else if (key == "logging") {
      out.logging = true;
    } else if (key == "resources") {
      out.resources = true;
      simdjson::ondemand::object inner;
      bool value = false;
      if (field.value().get_object().get(inner) == simdjson::SUCCESS &&
          inner["subscribe"].get_bool().get(value) == simdjson::SUCCESS && value) {
        out.subscribe = true;
      }
    }
  }
  return out;
}

std::string offer(const capability_set& caps) {
  std::string out = "{";
  auto add = [&out](std::string_view member) {
    if (out.size() > 1) {
      out += ',';
    }
    out += member;
  };
  if (caps.tools) {
    add(R"("tools":{"listChanged":true})");
  }
  if (caps.prompts) {
    add(R"("prompts":{"listChanged":true})");
  }
  if (caps.resources) {
    add(caps.subscribe ? R"("resources":{"subscribe":true,"listChanged":true})"
                       : R"("resources":{"listChanged":true})");
  }
  if (caps.completions) {
    add(R"("completions":{})");
  }
  if (caps.logging) {
    add(R"("logging":{})");
  }
  out += '}';
  return out;
}

}  // namespace mcpgw::aggregate
