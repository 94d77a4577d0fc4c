// The reading side of gateway_server: the next request of a connection (the common one
// parsed at once, the rest by Beast), the header deadlines of plain-TCP connections, and the
// answers to requests that cannot be read.
#include "http/field_lookup.h"
#include "http/read_header.h"
#include "http/simple_http.h"
#include "mcpgw/jsonrpc.h"
#include "server/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <algorithm>
#include <chrono>

namespace mcpgw {

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);
constexpr auto no_deadline = std::chrono::steady_clock::time_point::max();

}  // namespace

net::awaitable<bool> gateway_server::next_request(any_stream& stream, beast::flat_buffer& buffer,
                                                  connection_entry& entry, duration header_timeout,
                                                  client_request& req) {
  if (!stream.is_tls()) {
    watch_read(entry, header_timeout);
    if (buffer.size() == 0) {
      boost::system::error_code ec;
      if (entry.read.watched) {
        ec = co_await readiness_.read_some(entry.read, stream.tcp().socket().native_handle(),
                                           buffer, no_deadline, &entry.read_expired);
      } else {
        auto [rec, n] = co_await stream.tcp().socket().async_read_some(
            buffer.prepare(beast::read_size(buffer, 65536)), tuple_awaitable);
        buffer.commit(n);
        ec = rec;
      }
      if (ec) {
        // Closed, timed out (the sweep cancelled the read) or failed before a byte: the
        // connection ends without an answer, as for these errors from read_header.
        entry.read_deadline = no_deadline;
        co_return false;
      }
    }
    // Nearly every request came whole with that read (or after the previous one). It goes
    // into the connection's request object, whose buffers the last request left.
    std::size_t used = 0;
    const std::string_view data(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (parse_simple_request(data, {config_.limits.max_header, config_.limits.max_body}, req,
                             used) == simple_parse::parsed) {
      buffer.consume(used);
      entry.read_deadline = no_deadline;
      entry.state = connection_state::handling;
      co_return true;
    }
  }
  co_return co_await parse_request(stream, buffer, entry, header_timeout, req);
}

net::awaitable<bool> gateway_server::parse_request(any_stream& stream, beast::flat_buffer& buffer,
                                                   connection_entry& entry, duration header_timeout,
                                                   client_request& req) {
  // Anything else from the start, by Beast's parser; what the first read brought stays in
  // `buffer` and the header deadline keeps running.
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(config_.limits.max_header));
  parser.body_limit(config_.limits.max_body);
  boost::system::error_code ec;
  if (stream.is_tls()) {
    stream.tcp().expires_after(header_timeout);
    auto [tec, n] = co_await http::async_read_header(stream, buffer, parser, tuple_awaitable);
    ec = tec;
  } else {
    ec = co_await read_header(stream.tcp().socket(), buffer, parser, &entry.read_expired);
    entry.read_deadline = no_deadline;
  }
  entry.state = connection_state::handling;
  if (ec) {
    // Oversized or malformed requests get an answer; a closed, silent or slow client
    // (timeout) does not. The connection ends either way.
    if (ec == http::error::header_limit || ec == http::error::body_limit ||
        (ec.category() == http::make_error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message)) {
      co_await reject_request(stream, entry, ec);
    }
    co_return false;
  }
  auto& header = parser.get();
  if (beast::iequals(http_lookup::value_of(header.base(), http::field::expect), "100-continue")) {
    stream.tcp().expires_after(config_.limits.write_timeout);
    co_await net::async_write(stream, net::buffer("HTTP/1.1 100 Continue\r\n\r\n", 25),
                              tuple_awaitable);
  }
  if (!parser.is_done() && buffer.size() != 0) {
    // The body that came with the header (almost always all of it) is parsed here, not by
    // an asynchronous read that would find it already buffered.
    parser.eager(true);
    boost::system::error_code pec;
    const std::size_t used = parser.put(buffer.data(), pec);
    buffer.consume(used);
    if (pec && pec != http::error::need_more) {
      if (pec == http::error::body_limit) {
        co_await reject_request(stream, entry, pec);
      }
      co_return false;
    }
  }
  if (!parser.is_done()) {
    stream.tcp().expires_after(config_.limits.body_timeout);
    auto [bec, bn] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
    if (bec) {
      if (bec == http::error::body_limit) {
        co_await reject_request(stream, entry, bec);
      }
      co_return false;
    }
  }
  stream.tcp().expires_never();
  req = client_request::from(parser.release());
  co_return true;
}

net::awaitable<void> gateway_server::reject_request(any_stream& stream, connection_entry& entry,
                                                    boost::system::error_code ec) {
  unsigned status = 400;
  std::string message = "malformed HTTP request: " + ec.message();
  if (ec == http::error::header_limit) {
    status = 431;
    message = "request header block exceeds limits.max_header (" +
              std::to_string(config_.limits.max_header) + " bytes)";
  } else if (ec == http::error::body_limit) {
    status = 413;
    message = "request body exceeds limits.max_body (" + std::to_string(config_.limits.max_body) +
              " bytes)";
  }
  responder closing(stream, false, config_.limits.write_timeout, entry.state);
  co_await closing.send(status, "application/json",
                        jsonrpc::make_error({}, jsonrpc::invalid_request, message));
}

void gateway_server::watch_read(connection_entry& entry, duration timeout) {
  entry.read_expired = false;
  entry.read_deadline = std::chrono::steady_clock::now() + timeout;
  if (entry.read_deadline < sweep_at_) {
    // Earlier than the sweep's wake-up: re-arming cancels its wait, and it waits again.
    sweep_at_ = entry.read_deadline;
    sweep_timer_.expires_at(sweep_at_);
  }
}

net::awaitable<void> gateway_server::sweep_read_deadlines() {
  while (!sweep_stopped_) {
    co_await sweep_timer_.async_wait(tuple_awaitable);
    const auto now = std::chrono::steady_clock::now();
    if (sweep_stopped_ || now < sweep_timer_.expiry()) {
      continue;  // stopped, or re-armed for another time
    }
    auto next = std::chrono::steady_clock::time_point::max();
    for (auto& c : connections_) {
      if (c.read_deadline <= now) {
        c.read_deadline = std::chrono::steady_clock::time_point::max();
        c.read_expired = true;
        boost::system::error_code ignored;
        c.stream->tcp().socket().cancel(ignored);  // the read ends with beast::error::timeout
        readiness_.cancel(c.read);
      } else {
        next = std::min(next, c.read_deadline);
      }
    }
    sweep_at_ = next;
    sweep_timer_.expires_at(next);
  }
}

}  // namespace mcpgw
