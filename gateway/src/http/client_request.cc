#include "http/client_request.h"

#include "mcpgw/http_headers.h"

#include <boost/beast/http/rfc7230.hpp>

#include <algorithm>
#include <iterator>

namespace mcpgw {

client_request client_request::from(http::request<http::string_body>&& message) {
  client_request out;
  out.head_.reserve(256);
  out.method_ = out.append(message.method_string());
  out.target_ = out.append(message.target());
  out.verb_ = message.method();
  out.version_ = message.version();
  for (const auto& f : message) {
    const span name = out.append(f.name_string());
    const span value = out.append(f.value());
    out.fields_.push_back({name, value});
  }
  out.body_ = std::move(message.body());
  return out;
}

void client_request::assign(std::string_view head, std::string_view method, std::string_view target,
                            unsigned version, std::span<const field_view> fields) {
  // The object may be reused for a connection's next request: what set() added goes, and a
  // body buffer grown large by an earlier request is not kept for the connection's lifetime.
  added_.clear();
  if (body_.capacity() > max_kept_body) {
    std::string().swap(body_);
  }
  head_.reserve(head.size() + set_room);
  head_.assign(head);
  const auto within = [&head](std::string_view part) {
    return span{static_cast<std::uint32_t>(part.data() - head.data()),
                static_cast<std::uint32_t>(part.size())};
  };
  method_ = within(method);
  target_ = within(target);
  verb_ = http::string_to_verb(method);
  version_ = version;
  fields_.clear();
  fields_.reserve(fields.size() + 1);  // and the X-Request-Id set() may add
  for (const field_view& f : fields) {
    fields_.push_back({within(f.name), within(f.value)});
  }
}

client_request::span client_request::append(std::string_view text) {
  const span out{static_cast<std::uint32_t>(head_.size()), static_cast<std::uint32_t>(text.size())};
  head_.append(text);
  return out;
}

std::string_view client_request::at(span s) const {
  if (s.added == 0) {
    return std::string_view(head_).substr(s.offset, s.size);
  }
  auto node = added_.begin();
  std::advance(node, s.added - 1);
  return std::string_view(*node).substr(s.offset, s.size);
}

bool client_request::keep_alive() const {
  const std::string_view connection = (*this)[http::field::connection];
  // Beast's own token list, so the answer is Beast's.
  if (version_ < 11) {
    return http::token_list(connection).exists("keep-alive");
  }
  return !http::token_list(connection).exists("close");
}

std::string_view client_request::operator[](std::string_view name) const {
  for (const field_spans& f : fields_) {
    if (f.name.size == name.size() && http_headers::iequals(at(f.name), name)) {
      return at(f.value);
    }
  }
  return {};
}

std::string_view client_request::set(std::string_view name, std::string_view value) {
  std::erase_if(fields_, [&](const field_spans& f) {
    return f.name.size == name.size() && http_headers::iequals(at(f.name), name);
  });
  if (head_.capacity() - head_.size() >= name.size() + value.size()) {
    // Within the room the head was given: it does not move, and nothing is allocated.
    const span n = append(name);
    const span v = append(value);
    fields_.push_back({n, v});
    return at(v);
  }
  std::string& text = added_.emplace_back(name);
  text.append(value);
  const auto index = static_cast<std::uint32_t>(added_.size());
  fields_.push_back(
      {{0, static_cast<std::uint32_t>(name.size()), index},
       {static_cast<std::uint32_t>(name.size()), static_cast<std::uint32_t>(value.size()), index}});
  return at(fields_.back().value);
}

}  // namespace mcpgw
