#include "demo_request.h"

#include "demo_rpc.h"

#include <string_view>

namespace mcpgw::demo {

namespace http = boost::beast::http;

namespace {

bool contains_ci(std::string_view haystack, std::string_view needle) {
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (boost::beast::iequals(haystack.substr(i, needle.size()), needle)) {
      return true;
    }
  }
  return false;
}

}  // namespace

void request_info::reset() {
  method = http::verb::unknown;
  version = 11;
  target.clear();
  session_id.clear();
  has_session_id = false;
  accepts_event_stream = false;
  body.clear();
}

request_parser::request_parser(request_info& info, std::uint64_t max_body, std::uint32_t max_header)
    : info_{info} {
  info_.reset();
  body_limit(max_body);
  header_limit(max_header);
}

void request_parser::on_request_impl(http::verb method, string_view, string_view target,
                                     int version, error_code&) {
  info_.method = method;
  info_.version = version;
  info_.target.assign(target);
}

void request_parser::on_field_impl(http::field name, string_view name_string, string_view value,
                                   error_code&) {
  if (name == http::field::accept) {
    info_.accepts_event_stream |= contains_ci(value, "text/event-stream");
  } else if (name == http::field::unknown && boost::beast::iequals(name_string, "mcp-session-id")) {
    info_.session_id.assign(value);
    info_.has_session_id = true;
  }
}

void request_parser::on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) {
  if (length) {
    info_.body.reserve(*length + rpc_handler::padding);
  }
}

std::size_t request_parser::on_body_impl(string_view body, error_code&) {
  info_.body.append(body);
  return body.size();
}

std::size_t request_parser::on_chunk_body_impl(std::uint64_t, string_view body, error_code&) {
  info_.body.append(body);
  return body.size();
}

void request_parser::on_finish_impl(error_code&) {
  // Chunked bodies arrive without a length, so the padding is ensured here.
  if (info_.body.capacity() < info_.body.size() + rpc_handler::padding) {
    info_.body.reserve(info_.body.size() + rpc_handler::padding);
  }
}

}  // namespace mcpgw::demo
