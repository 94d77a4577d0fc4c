// One request of a client as the gateway keeps it: the request line and field lines in one
// string, the fields as offsets into it in arrival order, and the body. A Beast request
// spent an allocation and a table look-up per field (`basic_fields::insert`) and more to
// free them, on every request, for the few fields the gateway reads; this is one copy of the
// head. Look-ups walk the fields comparing lengths first: a request has a handful.
#pragma once

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstdint>
#include <list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw {

namespace http = boost::beast::http;

class client_request {
 public:
  struct field_view {
    std::string_view name;
    std::string_view value;
  };

  client_request() = default;
  // What Beast's parser read (the requests outside parse_simple_request's subset).
  static client_request from(http::request<http::string_body>&& message);

  // A request read from the wire: `head` is its request line and field lines, and `method`,
  // `target` and each field's name and value are views into it. The head is copied once, into
  // the buffer an earlier request left (a connection reuses one object for its requests).
  // The body is the caller's to assign.
  void assign(std::string_view head, std::string_view method, std::string_view target,
              unsigned version, std::span<const field_view> fields);

  http::verb method() const { return verb_; }
  std::string_view method_string() const { return at(method_); }
  std::string_view target() const { return at(target_); }
  unsigned version() const { return version_; }  // 11 for HTTP/1.1
  // As Beast's: HTTP/1.1 unless the first Connection field lists "close"; HTTP/1.0 only
  // when it lists "keep-alive".
  bool keep_alive() const;

  // The value of the first field named `name` (any case), or of known field `f`; "" when
  // there is none.
  std::string_view operator[](std::string_view name) const;
  std::string_view operator[](http::field f) const { return (*this)[http::to_string(f)]; }
  // Every field `name` removed, then `name: value` added last (as Beast's set()); returns the
  // value as stored. Views of the request line, the body and other fields taken before stay
  // valid.
  std::string_view set(std::string_view name, std::string_view value);

  std::size_t field_count() const { return fields_.size(); }
  field_view field(std::size_t i) const { return {at(fields_[i].name), at(fields_[i].value)}; }

  std::string& body() { return body_; }
  const std::string& body() const { return body_; }

 private:
  struct span {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
    std::uint32_t added = 0;  // 0: in head_; n: in the n-th of added_
  };
  struct field_spans {
    span name;
    span value;
  };

  // Room left after the head for set() (a minted X-Request-Id is 16 digits): fields set
  // within it are appended to the head, which does not move; others get a node of their own.
  static constexpr std::size_t set_room = 64;
  // A body buffer larger than this is freed when the object is assigned a new request.
  static constexpr std::size_t max_kept_body = 64 * 1024;

  std::string_view at(span s) const;
  span append(std::string_view text);  // to the end of the head: while building, or in its room

  std::string head_;
  span method_;
  span target_;
  http::verb verb_ = http::verb::unknown;
  unsigned version_ = 11;
  std::vector<field_spans> fields_;
  // Fields set() added past the head's room, each "<name><value>" in a node of its own.
  std::list<std::string> added_;
  std::string body_;
};

}  // namespace mcpgw
