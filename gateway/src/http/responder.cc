#include "http/responder.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/status.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>

namespace mcpgw {

void responder::append_head(std::string& out, unsigned status, header_list extra) const {
  using namespace std::string_view_literals;  // no strlen per piece: this runs per response
  if (status == 200) {
    out += "HTTP/1.1 200 OK\r\nServer: mcpgw\r\n"sv;
  } else {
    out += "HTTP/1.1 "sv;
    char digits[12];
    out.append(digits, std::to_chars(digits, digits + sizeof digits, status).ptr);
    out += ' ';
    out += beast::http::obsolete_reason(static_cast<beast::http::status>(status));
    out += "\r\nServer: mcpgw\r\n"sv;
  }
  if (!trace_.request_id.empty()) {
    out += "X-Request-Id: "sv;
    out += trace_.request_id;
    out += "\r\n"sv;
  }
  if (!keep_alive_) {
    out += "Connection: close\r\n"sv;
  }
  for (const auto& [name, value] : extra) {
    out += name;
    out += ": "sv;
    out += value;
    out += "\r\n"sv;
  }
}

net::awaitable<bool> responder::write(std::string_view data) {
  if (failed_) {
    co_return false;
  }
  std::array<net::const_buffer, 1> buffers{net::buffer(data.data(), data.size())};
  if (!write_now(buffers)) {
    stream_.tcp().expires_after(write_timeout_);
    auto [ec, n] = co_await net::async_write(stream_, buffers, net::as_tuple(net::use_awaitable));
    stream_.tcp().expires_never();
    count_sent(n);
    if (ec) {
      failed_ = true;
    }
  }
  co_return !failed_;
}

bool responder::write_now(std::span<net::const_buffer> buffers) {
  boost::system::error_code ec;
  std::size_t n = stream_.write_now(buffers, ec);
  count_sent(n);
  if (ec) {
    failed_ = true;
    return true;
  }
  std::size_t left = 0;
  for (auto& b : buffers) {
    const std::size_t taken = std::min(n, b.size());
    b += taken;
    n -= taken;
    left += b.size();
  }
  return left == 0;
}

net::awaitable<bool> responder::send(unsigned status, std::string_view content_type,
                                     std::string_view body, header_list extra) {
  started_ = true;
  if (failed_) {
    co_return false;
  }
  // The head is built in a buffer every response on this thread reuses (nothing waits between
  // building and writing it); what of it is left for an asynchronous write is copied first.
  thread_local std::string shared_head;
  std::string& head = shared_head;
  head.clear();
  append_head(head, status, extra);
  head += std::string_view("Content-Type: ");
  head += content_type;
  head += std::string_view("\r\nContent-Length: ");
  char digits[24];
  head.append(digits, std::to_chars(digits, digits + sizeof digits, body.size()).ptr);
  head += std::string_view("\r\n\r\n");
  // Head and body leave in one gathered write; the body is not copied.
  std::array<net::const_buffer, 2> buffers{net::buffer(head),
                                           net::buffer(body.data(), head_only_ ? 0 : body.size())};
  if (!write_now(buffers)) {
    const std::string head_rest(static_cast<const char*>(buffers[0].data()), buffers[0].size());
    buffers[0] = net::buffer(head_rest);
    stream_.tcp().expires_after(write_timeout_);
    auto [ec, n] = co_await net::async_write(stream_, buffers, net::as_tuple(net::use_awaitable));
    stream_.tcp().expires_never();
    count_sent(n);
    failed_ = static_cast<bool>(ec);
  }
  co_return !failed_;
}

void responder::count_sent(std::size_t n) {
  if (traffic_.sent != nullptr) {
    *traffic_.sent += n;
  }
}

responder::~responder() {
  if (streaming_) {
    traffic_.streams->Decrement();
  }
}

net::awaitable<bool> responder::send_empty(unsigned status, header_list extra) {
  started_ = true;
  std::string out;
  append_head(out, status, extra);
  out += "Content-Length: 0\r\n\r\n";
  co_return co_await write(out);
}

net::awaitable<bool> responder::start_stream(header_list extra) {
  started_ = true;
  if (traffic_.streams != nullptr && !streaming_) {
    streaming_ = true;
    traffic_.streams->Increment();
  }
  std::string out;
  append_head(out, 200, extra);
  out +=
      "Content-Type: text/event-stream\r\nCache-Control: no-cache, no-transform\r\n"
      "X-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n\r\n";
  co_return co_await write(out);
}

net::awaitable<bool> responder::write_chunk(std::string_view data) {
  if (data.empty()) {
    co_return !failed_;
  }
  char size[24];
  int len = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out;
  out.reserve(static_cast<std::size_t>(len) + data.size() + 2);
  out.append(size, static_cast<std::size_t>(len));
  out += data;
  out += "\r\n";
  co_return co_await write(out);
}

net::awaitable<bool> responder::end_stream() { co_return co_await write("0\r\n\r\n"); }

}  // namespace mcpgw
