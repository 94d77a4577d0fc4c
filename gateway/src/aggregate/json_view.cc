#include "aggregate/json_view.h"

#include <cstring>

namespace mcpgw::aggregate {

namespace ondemand = simdjson::ondemand;

namespace {

constexpr int max_depth = 32;

std::string_view trim_end(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' ||
                           text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace

simdjson::padded_string_view json_view::pad(std::string_view text) {
  if (padded_.size() < text.size() + simdjson::SIMDJSON_PADDING) {
    padded_.resize(text.size() + simdjson::SIMDJSON_PADDING);
  }
  if (!text.empty()) {  // an empty view's data() may be null, which memcpy must not get
    std::memcpy(padded_.data(), text.data(), text.size());
  }
  std::memset(padded_.data() + text.size(), 0, simdjson::SIMDJSON_PADDING);
  base_ = padded_.data();
  return simdjson::padded_string_view(padded_.data(), text.size(), padded_.size());
}

std::optional<string_at> json_view::string_token(ondemand::value value) {
  std::string_view raw = value.raw_json_token();
  if (raw.empty() || raw.front() != '"') {
    return std::nullopt;
  }
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  raw = trim_end(raw);
  string_at out;
  out.at.offset = static_cast<std::uint32_t>(raw.data() - base_);
  out.at.length = static_cast<std::uint32_t>(raw.size());
  out.value.assign(text);
  return out;
}

std::optional<list_page> json_view::page(std::string_view response, std::string_view key) {
  ondemand::document doc;
  ondemand::object result;
  if (parser_.iterate(pad(response)).get(doc) != simdjson::SUCCESS ||
      doc["result"].get_object().get(result) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  list_page out;
  bool found = false;
  for (auto field : result) {
    std::string_view name;
    if (field.unescaped_key().get(name) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    if (name == key) {
      ondemand::array items;
      if (field.value().get_array().get(items) != simdjson::SUCCESS) {
        return std::nullopt;
      }
      for (auto item : items) {
        ondemand::object object;
        std::string_view raw;
        if (item.get_object().get(object) != simdjson::SUCCESS ||
            object.raw_json().get(raw) != simdjson::SUCCESS) {
          return std::nullopt;
        }
        raw = trim_end(raw);
        out.items.push_back(
            response.substr(static_cast<std::size_t>(raw.data() - base_), raw.size()));
      }
      found = true;
    } else if (name == "nextCursor") {
      std::string_view cursor;
      if (field.value().get_string().get(cursor) == simdjson::SUCCESS) {
        out.next_cursor.emplace(cursor);
      }
    }
  }
  if (!found) {
    return std::nullopt;
  }
  return out;
}

std::optional<string_at> json_view::member(std::string_view object, std::string_view key) {
  ondemand::document doc;
  ondemand::object obj;
  if (parser_.iterate(pad(object)).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(obj) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  for (auto field : obj) {
    std::string_view name;
    if (field.unescaped_key().get(name) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    if (name == key) {
      ondemand::value value;
      if (field.value().get(value) != simdjson::SUCCESS) {
        return std::nullopt;
      }
      return string_token(value);
    }
  }
  return std::nullopt;
}

std::optional<string_at> json_view::param(std::string_view message, std::string_view key) {
  ondemand::document doc;
  ondemand::object params;
  if (parser_.iterate(pad(message)).get(doc) != simdjson::SUCCESS ||
      doc["params"].get_object().get(params) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  ondemand::value value;
  if (params.find_field_unordered(key).get(value) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return string_token(value);
}

std::optional<string_at> json_view::ref(std::string_view message, std::string_view key) {
  ondemand::document doc;
  ondemand::object ref;
  if (parser_.iterate(pad(message)).get(doc) != simdjson::SUCCESS ||
      doc["params"]["ref"].get_object().get(ref) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  ondemand::value value;
  if (ref.find_field_unordered(key).get(value) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return string_token(value);
}

std::vector<string_at> json_view::result_uris(std::string_view response) {
  std::vector<string_at> out;
  ondemand::document doc;
  ondemand::value result;
  if (parser_.iterate(pad(response)).get(doc) != simdjson::SUCCESS ||
      doc["result"].get(result) != simdjson::SUCCESS) {
    return out;
  }
  // Depth-first; on-demand values are consumed as they are visited.
  auto walk = [&](auto& self, ondemand::value value, int depth) -> void {
    if (depth > max_depth) {
      return;
    }
    ondemand::json_type type;
    if (value.type().get(type) != simdjson::SUCCESS) {
      return;
    }
    if (type == ondemand::json_type::array) {
      ondemand::array items;
      if (value.get_array().get(items) != simdjson::SUCCESS) {
        return;
      }
      for (auto item : items) {
        ondemand::value v;
        if (item.get(v) == simdjson::SUCCESS) {
          self(self, v, depth + 1);
        }
      }
    } else if (type == ondemand::json_type::object) {
      ondemand::object obj;
      if (value.get_object().get(obj) != simdjson::SUCCESS) {
        return;
      }
      for (auto field : obj) {
        std::string_view key;
        ondemand::value v;
        if (field.unescaped_key().get(key) != simdjson::SUCCESS ||
            field.value().get(v) != simdjson::SUCCESS) {
          return;
        }
        if (key == "structuredContent" || key == "_meta") {
          continue;  // skipped unread: on-demand moves past it
        }
        if (key == "uri") {
          if (auto s = string_token(v)) {
            out.push_back(std::move(*s));
          }
          continue;
        }
        self(self, v, depth + 1);
      }
    }
  };
  walk(walk, result, 0);
  return out;
}

std::optional<server_info> json_view::initialize_result(std::string_view response) {
  ondemand::document doc;
  ondemand::object result;
  if (parser_.iterate(pad(response)).get(doc) != simdjson::SUCCESS ||
      doc["result"].get_object().get(result) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  server_info out;
  out.capabilities = "{}";
  for (auto field : result) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    if (key == "capabilities") {
      ondemand::object caps;
      std::string_view raw;
      if (field.value().get_object().get(caps) == simdjson::SUCCESS &&
          caps.raw_json().get(raw) == simdjson::SUCCESS) {
        out.capabilities.assign(trim_end(raw));
      }
    } else if (key == "protocolVersion") {
      std::string_view v;
      if (field.value().get_string().get(v) == simdjson::SUCCESS) {
        out.protocol_version.assign(v);
      }
    } else if (key == "instructions") {
      std::string_view v;
      if (field.value().get_string().get(v) == simdjson::SUCCESS) {
        out.instructions.assign(v);
      }
    }
  }
  return out;
}

}  // namespace mcpgw::aggregate
