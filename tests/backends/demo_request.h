// The demo backend's HTTP request reader: a Beast parser that keeps only what the demo
// reads. Used by demo_backend.cc, one request_info per connection.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstdint>
#include <string>

namespace mcpgw::demo {

// What a connection keeps of one request. It outlives the request so that its strings keep
// their capacity: after warm-up, reading a request allocates nothing.
struct request_info {
  boost::beast::http::verb method = boost::beast::http::verb::unknown;
  int version = 11;  // 10 for HTTP/1.0
  std::string target;
  std::string session_id;
  bool has_session_id = false;
  bool accepts_event_stream = false;
  // Keeps rpc_handler::padding spare bytes past its end, for simdjson.
  std::string body;

  void reset();
};

// Keeps only the header fields the demo reads, where http::request_parser would build an
// http::fields with one allocation per header line. One per request; it resets `info`.
class request_parser final : public boost::beast::http::basic_parser<true> {
 public:
  request_parser(request_info& info, std::uint64_t max_body, std::uint32_t max_header);

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  void on_request_impl(boost::beast::http::verb method, string_view method_string,
                       string_view target, int version, error_code& ec) override;
  void on_response_impl(int, string_view, int, error_code&) override {}
  void on_field_impl(boost::beast::http::field name, string_view name_string, string_view value,
                     error_code& ec) override;
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code& ec) override;
  std::size_t on_body_impl(string_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t remain, string_view body, error_code& ec) override;
  void on_finish_impl(error_code& ec) override;

  request_info& info_;
};

}  // namespace mcpgw::demo
