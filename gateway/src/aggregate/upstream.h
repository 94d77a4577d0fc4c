// One backend's session on behalf of an aggregated client session: opened with the client's
// initialize, re-opened transparently when the backend expires it (HTTP 404), and reporting
// what the backend says outside of answers (notifications, its own requests) to the
// aggregator. Streamable HTTP backends are spoken to with HTTP exchanges (and a GET stream for
// what the backend sends on its own); stdio and legacy SSE backends through a message_channel.
#pragma once

#include "aggregate/json_view.h"
#include "aggregate/naming.h"

#include "backend/backend_group.h"
#include "backend/http_backend.h"
#include "backend/message_channel.h"
#include "backend/stdio_backend.h"
#include "mcpgw/config.h"
#include "mcpgw/jsonrpc.h"
#include "mcpgw/log.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace mcpgw::aggregate {

namespace net = boost::asio;

// A backend of an aggregated route, as the server built it.
struct member_binding {
  const route_member* config = nullptr;
  backend_group* http = nullptr;  // Streamable HTTP and legacy SSE backends
  stdio_backend* stdio = nullptr;
  bool sse = false;
  const std::string& name() const { return config->backend; }
  // The longest silence while one of its requests is in flight.
  duration timeout() const;
};

// Where an upstream reports to; implemented by the aggregator.
class upstream_owner {
 public:
  virtual ~upstream_owner() = default;
  // A message of the backend that is not the answer to a request of ours.
  virtual net::awaitable<void> from_backend(std::size_t member, std::string message) = 0;
  // The backend went away (its process exited, it cannot be reached).
  virtual void lost(std::size_t member, const std::string& why) = 0;
  // The backend expired its session and a new one was opened in its place.
  virtual void reopened(std::size_t member) = 0;
};

struct call_result {
  std::string response;  // the backend's answer, with the id we sent
  int code = 0;          // without an answer: the error the client gets
  std::string error;
  bool ok() const { return !response.empty(); }
};

enum class link_state { idle, connecting, ready, down };

class upstream : public std::enable_shared_from_this<upstream> {
 public:
  upstream(net::any_io_executor ex, const member_binding& member, std::size_t index,
           std::weak_ptr<upstream_owner> owner, std::string tenant, const limits_config& limits,
           logger& log, jsonrpc::decoder& decoder, json_view& json);
  ~upstream();
  upstream(const upstream&) = delete;
  upstream& operator=(const upstream&) = delete;

  link_state state() const { return state_; }
  bool ready() const { return state_ == link_state::ready; }
  const server_info& info() const { return info_; }
  const capability_set& offers() const { return offers_; }
  const std::string& last_error() const { return last_error_; }
  const member_binding& member() const { return member_; }

  // Opens the backend session with `init` (the client's initialize, with an id of ours): the
  // backend's initialize answer, then notifications/initialized. Waits for a connect already
  // under way instead of starting a second. True once ready.
  net::awaitable<bool> connect(std::string init);
  // Sends a request whose id token is `id`; returns its answer. Messages about it (progress,
  // the backend's own requests) go to the owner as they come.
  net::awaitable<call_result> call(std::string body, std::string id, std::string_view method);
  // A notification, or the answer to one of the backend's requests.
  void post(std::string body);
  // The client gave up on request `id`: the backend is told, and its exchange ends.
  void cancel(std::string_view id, std::string_view reason);
  // Ends the backend session (HTTP: DELETE in the background; a process stops).
  void close();

 private:
  class channel_link;
  net::awaitable<bool> open_http();
  net::awaitable<bool> open_channel();
  net::awaitable<call_result> call_http(std::string_view body, std::string_view id,
                                        std::string_view method);
  net::awaitable<call_result> call_channel(std::string_view body, std::string_view id);
  // Reads an HTTP answer (JSON, or SSE until the answer to `id`), passing the rest on.
  net::awaitable<call_result> read_answer(backend_exchange& exchange, std::string_view id);
  net::awaitable<void> get_stream();
  net::awaitable<void> post_http(std::string body);
  net::awaitable<void> delete_session(std::string session_id, std::string version);
  // Ends what is in flight (exchanges, the GET stream, waiting calls, the channel).
  void abort_all();
  void fail(const std::string& why);
  void reopen_failed();
  // From the channel.
  net::awaitable<void> on_channel_message(std::string message);
  void on_channel_exit(const std::string& why);
  http_backend& http() const;
  // A POST (or, changed by the caller, a GET) on the backend session, with its credentials.
  backend_request session_request(std::string_view body) const;
  std::string describe_failure(backend_failure f) const;

  net::any_io_executor ex_;
  const member_binding& member_;
  std::size_t index_;
  std::weak_ptr<upstream_owner> owner_;
  std::string tenant_;
  const limits_config& limits_;
  logger& log_;
  jsonrpc::decoder& decoder_;  // the route's (see route_state)
  json_view& json_;
  link_state state_ = link_state::idle;
  bool closed_ = false;
  std::uint64_t generation_ = 0;  // bumped by every (re)connect: stale loops stop
  std::string init_;              // the initialize each (re)connect sends
  server_info info_;
  capability_set offers_;
  std::string last_error_;
  net::steady_timer connected_;  // wakes callers waiting for a connect under way

  // HTTP
  std::size_t replica_ = 0;
  std::shared_ptr<replica_set> replicas_;  // set once pinned to replica_
  bool repick_ = false;                    // the next session may go to another replica
  std::string session_id_;
  std::map<std::string, backend_exchange*, std::less<>> exchanges_;  // in flight, by id
  backend_exchange* get_exchange_ = nullptr;

  // stdio and legacy SSE
  std::shared_ptr<message_channel> channel_;
  struct waiter {
    std::string response;
    bool done = false;
    net::steady_timer* signal = nullptr;
  };
  std::map<std::string, waiter*, std::less<>> waiting_;  // requests in flight, by id
};

}  // namespace mcpgw::aggregate
