// A client session of the gateway: its own id, its upstream session on the backend, the id
// maps between the two sides, and its outbound SSE streams (the GET stream and one per POST).
// Created by the Streamable HTTP endpoint on initialize; owned by the session registry.
#pragma once

#include "aggregate/aggregator.h"
#include "filter/filter_chain.h"

#include "backend/backend_group.h"
#include "backend/http_backend.h"
#include "backend/message_channel.h"
#include "backend/stdio_backend.h"
#include "mcpgw/config.h"
#include "mcpgw/filter.h"
#include "mcpgw/jsonrpc.h"
#include "observability/trace.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/container/small_vector.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace mcpgw {

// One outbound SSE stream. Events are kept (bounded) so a client that reconnects with
// Last-Event-ID gets what it missed, and so the GET stream holds what the backend sent before
// the client's GET attached.
class event_stream {
 public:
  struct entry {
    std::uint64_t seq;
    std::string data;  // one JSON-RPC message, already mapped to the client's ids
  };

  event_stream(net::any_io_executor ex, std::uint64_t number, std::size_t capacity, bool is_get)
      : number_(number), capacity_(capacity), is_get_(is_get), change_(ex), room_(ex) {}

  std::uint64_t number() const { return number_; }
  bool is_get() const { return is_get_; }
  bool finished() const { return finished_; }
  bool attached() const { return attached_; }
  // A writer takes the stream and gets an owner number. A newer writer (a client resuming
  // after its connection dropped without us noticing) takes it over; the older one sees it is
  // no longer the owner at its next wake-up and stops.
  std::uint64_t attach() {
    attached_ = true;
    notify();
    return ++owner_;
  }
  void detach(std::uint64_t owner) {
    if (owner == owner_ && attached_) {
      attached_ = false;
      room_.cancel();  // an unread POST stream drops old events instead of holding the producer
    }
  }
  bool owned_by(std::uint64_t owner) const { return attached_ && owner == owner_; }
  std::uint64_t delivered() const { return delivered_; }
  std::uint64_t last_seq() const { return next_seq_ - 1; }
  std::uint64_t dropped() const { return dropped_; }

  // Appends an event and wakes the consumer; returns its sequence number.
  std::uint64_t push(std::string data);
  // Waits until there is room for one more event: back-pressure on the producer while a
  // reader is attached (and always on the GET stream, which never drops undelivered events).
  net::awaitable<bool> wait_for_room();
  void finish();
  void mark_delivered(std::uint64_t seq) {
    if (seq > delivered_) {
      delivered_ = seq;
      room_.cancel();  // a producer waiting in wait_for_room() may go on
    }
  }
  // The first retained event after `seq`, or null.
  const entry* next_after(std::uint64_t seq) const;
  // Waits for a change (push, finish, notify) up to `timeout`; false on timeout.
  net::awaitable<bool> wait_change(duration timeout);
  void notify() { change_.cancel(); }

  // A 2024-11-05 HTTP+SSE stream: events carry no ids (there is no resumption).
  bool legacy() const { return legacy_; }
  void set_legacy() { legacy_ = true; }

  std::string event_id(std::uint64_t seq) const {
    return std::to_string(number_) + "_" + std::to_string(seq);
  }

 private:
  void trim();

  std::uint64_t number_;
  std::size_t capacity_;
  bool is_get_;
  bool legacy_ = false;
  std::deque<entry> events_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t delivered_ = 0;
  std::uint64_t dropped_ = 0;
  bool finished_ = false;
  bool attached_ = false;
  std::uint64_t owner_ = 0;
  net::steady_timer change_;  // wakes the consumer
  net::steady_timer room_;    // wakes a producer waiting for room
};

// Parses "<stream>_<seq>"; false when malformed.
bool parse_event_id(std::string_view id, std::uint64_t& stream, std::uint64_t& seq);

// A route and the backend behind it: a Streamable HTTP backend, a legacy HTTP+SSE backend
// (`backend` with `sse` set), a stdio backend, or several (`aggregate`: an aggregated route,
// whose sessions talk to the aggregator through a message_channel).
struct route_binding {
  std::string path;
  http_backend* backend = nullptr;  // the first replica
  stdio_backend* stdio = nullptr;
  bool sse = false;
  backend_group* group = nullptr;  // HTTP backends: all replicas
  aggregate::route_state* aggregate = nullptr;
  const std::string& backend_name() const {
    static const std::string none;
    return stdio ? stdio->name() : aggregate ? aggregate->name() : backend ? backend->name() : none;
  }
  // Sessions on it talk to the backend through a message_channel (stdio, sse, aggregated).
  bool uses_channel() const { return stdio != nullptr || sse || aggregate != nullptr; }
  // The longest silence while a request is in flight on a channel.
  duration channel_timeout() const {
    return stdio       ? stdio->config().stdio.timeout
           : aggregate ? aggregate->call_timeout()
                       : backend->config().http.timeout;
  }
};

class session : public std::enable_shared_from_this<session> {
 public:
  using clock = std::chrono::steady_clock;

  session(net::any_io_executor ex, std::string id, const route_binding& route,
          const limits_config& limits);
  ~session();

  const std::string& id() const { return id_; }
  // The principal that created the session (its id means nothing to anyone else), and the
  // filters that see its messages (null: none).
  // `tracing`: how requests get their trace context (null: they get none).
  void bind(principal who, std::shared_ptr<const filter_chain> chain,
            trace::settings* tracing = nullptr) {
    who_ = std::move(who);
    chain_ = chain && !chain->empty() ? std::move(chain) : nullptr;
    tracing_ = tracing;
  }
  const principal& who() const { return who_; }
  const filter_chain* filters() const { return chain_.get(); }
  http_backend& backend() const { return replica_ != nullptr ? *replica_ : *route_.backend; }
  // The backend replica the session is pinned to (HTTP backends with replicas).
  void pin_replica(std::size_t index);
  // Its URL when the backend has several replicas, else empty.
  std::string_view replica_url() const {
    return replicas_ && replicas_->size() > 1 ? std::string_view(replicas_->url(replica_index_))
                                              : std::string_view();
  }
  // False once the health probes found the pinned replica dead.
  bool replica_alive() const { return !replicas_ || replicas_->healthy(replica_index_); }
  const std::string& backend_name() const { return route_.backend_name(); }
  bool is_stdio() const { return route_.uses_channel(); }
  // A 2024-11-05 HTTP+SSE session: every message to the client goes on its one SSE stream,
  // and the session lives as long as that stream.
  bool is_legacy() const { return legacy_; }
  void set_legacy() {
    legacy_ = true;
    get_stream_->set_legacy();
  }
  bool initialized() const { return initialized_; }
  void set_initialized() { initialized_ = true; }
  const route_binding& route() const { return route_; }
  net::any_io_executor executor() const { return ex_; }

  const std::string& upstream_id() const { return upstream_id_; }
  void set_upstream_id(std::string_view id) { upstream_id_ = id; }
  const std::string& protocol_version() const { return protocol_version_; }
  // params.capabilities of the client's initialize (JSON), kept in the session record.
  const std::string& client_capabilities() const { return client_capabilities_; }
  void set_client_capabilities(std::string c) { client_capabilities_ = std::move(c); }
  void set_protocol_version(std::string_view v) { protocol_version_ = v; }
  bool ready() const { return ready_; }
  void set_ready() { ready_ = true; }
  bool closed() const { return closed_; }

  void touch() { last_activity_ = clock::now(); }
  // When the session store last confirmed the session (and extended its TTL).
  clock::time_point store_checked() const { return store_checked_; }
  void set_store_checked(clock::time_point t) { store_checked_ = t; }
  // Created on another replica and taken up here from the session store's record. Its
  // upstream ids start at `first_upstream_id`, far from those of the other replicas serving
  // it, so the backend never sees one id twice in flight.
  bool adopted() const { return adopted_; }
  // Its record could not be written (the store was down): written again at the next check
  // instead of being taken for a deletion elsewhere.
  bool unpublished() const { return unpublished_; }
  void set_unpublished(bool v) { unpublished_ = v; }
  void set_adopted(std::int64_t first_upstream_id) {
    adopted_ = true;
    next_upstream_id_ = first_upstream_id;
  }
  clock::time_point last_activity() const { return last_activity_; }
  // Busy sessions (a request in flight or a stream attached) do not expire.
  bool busy() const;
  int& active_requests() { return active_requests_; }

  // --- client -> backend id mapping -------------------------------------------------------
  // Maps a client request onto a fresh upstream id; returns the body to send to the backend.
  // The request also gets its trace context: the one in its params._meta, else the one its
  // HTTP request carried (`carried`), else a new trace; the gateway's span continues it, in
  // params._meta of the body returned and in trace_of(upstream_id).
  std::string map_client_request(std::string_view body, const jsonrpc::envelope& env,
                                 std::int64_t& upstream_id,
                                 const trace::carried* carried = nullptr);
  // The traceparent and tracestate the backend request of an in-flight request carries (views
  // into the session's books: copy them before waiting); empty when it has none.
  struct trace_values {
    std::string_view traceparent;
    std::string_view tracestate;
  };
  trace_values trace_of(std::int64_t upstream_id) const;
  // For a client's response to a server->client request: the body with the backend's id, or
  // nullopt when no such request is pending.
  std::optional<std::string> map_client_response(std::string_view body,
                                                 const jsonrpc::envelope& env);
  // For a client notification: the body to forward, or nullopt to drop it (a cancellation
  // of a request that is no longer in flight).
  // `cancels` is set to the upstream id a notifications/cancelled refers to, else -1.
  std::optional<std::string> map_client_notification(std::string_view body,
                                                     const jsonrpc::envelope& env,
                                                     std::int64_t& cancels);
  // The exchange carrying an in-flight request's response, aborted when the client cancels.
  void attach_exchange(std::int64_t upstream_id, backend_exchange* exchange);
  // Aborts the backend exchange of a request the client cancelled.
  void abort_request(std::int64_t upstream_id);
  bool request_cancelled(std::int64_t upstream_id) const;
  void forget_request(std::int64_t upstream_id);
  // The client's id for an in-flight upstream request (for synthesized errors).
  std::string client_id_of(std::int64_t upstream_id) const;
  // The error the gateway answers an in-flight request with, in the client's id, recorded as
  // the request's outcome and passed through the filters like any response.
  std::string failure_response(std::int64_t upstream_id, int code, std::string_view message);
  // A response the gateway makes itself for an in-flight request (a warm process's initialize
  // answer): recorded as its outcome and passed through the filters.
  void answer_locally(std::int64_t upstream_id, std::string& body, bool is_error);
  // A request that passed the filters: its completion waits here until the request is mapped
  // (map_client_request takes it over) or the endpoint is done with it without mapping it
  // (unstage_completion fires it with `outcome`).
  void stage_completion(std::string client_id, completion_guard guard);
  // A request with this id is staged or in flight: a second one would be confused with it.
  bool request_pending(std::string_view client_id) const;
  void unstage_completion(std::string_view client_id, request_outcome outcome, int code = 0,
                          std::string_view message = {});

  // --- backend -> client mapping ----------------------------------------------------------
  struct mapped {
    std::string body;              // in the client's ids; empty to drop
    std::int64_t completes = -1;   // upstream id of the request this response completes
    std::int64_t related = -1;     // upstream id of the request a progress notification is for
    bool is_error = false;         // the response is a JSON-RPC error
    std::string protocol_version;  // result.protocolVersion (an initialize result)
  };
  mapped map_backend_message(std::string_view body, jsonrpc::decoder& decoder);

  // --- streams ----------------------------------------------------------------------------
  event_stream& get_stream() { return *get_stream_; }
  std::shared_ptr<event_stream> open_post_stream();
  std::shared_ptr<event_stream> find_stream(std::uint64_t number) const;

  // Registers an exchange (a backend GET stream) to abort when the session closes.
  void track(backend_exchange* exchange) { tracked_ = exchange; }
  bool tracking() const { return tracked_ != nullptr; }
  void untrack(backend_exchange* exchange) {
    if (tracked_ == exchange) {
      tracked_ = nullptr;
    }
  }
  // Ends everything: streams finish, the backend GET stream is aborted, a stdio process stops.
  void close();

  // --- channel sessions (stdio, legacy SSE backend): every message on one channel ---------
  void set_channel(std::shared_ptr<message_channel> c) { channel_ = std::move(c); }
  message_channel* channel() const { return channel_.get(); }
  // The stream that receives what the process says about an in-flight request, and the timer
  // its relay waits on (poked whenever the request makes progress).
  void set_sink(std::int64_t upstream_id, std::shared_ptr<event_stream> sink,
                net::steady_timer* watchdog, bool is_initialize);
  void clear_sink(std::int64_t upstream_id);
  struct sink_view {
    std::shared_ptr<event_stream> stream;
    bool is_initialize = false;
  };
  sink_view sink_of(std::int64_t upstream_id);
  // Pokes the watchdog of the request: it made progress or is over.
  void poke(std::int64_t upstream_id);
  // The newest in-flight request's stream that is still open, or null: where a server message
  // that names no request goes when no GET stream is attached.
  // `upstream_id` is set to its request (to poke it).
  std::shared_ptr<event_stream> newest_open_sink(std::int64_t& upstream_id) const;
  // Upstream ids of the requests still waiting for an answer.
  std::vector<std::int64_t> unanswered() const;
  void mark_answered(std::int64_t upstream_id);
  bool answered(std::int64_t upstream_id) const;
  // A warm stdio process got the pool's notifications/initialized; the client's is absorbed.
  bool absorb_initialized() const { return absorb_initialized_; }
  void set_absorb_initialized(bool v) { absorb_initialized_ = v; }
  // Why the session ended, for requests that were still waiting ("" when not recorded).
  const std::string& end_reason() const { return end_reason_; }
  void set_end_reason(std::string why) { end_reason_ = std::move(why); }

 private:
  struct in_flight {
    std::string client_id;       // raw JSON token
    std::string progress_token;  // raw JSON token; empty when none
    backend_exchange* exchange = nullptr;
    bool cancelled = false;
    // stdio sessions
    std::shared_ptr<event_stream> sink;
    net::steady_timer* watchdog = nullptr;
    bool answered = false;
    bool is_initialize = false;
    // With filters: what the response hooks and the completion hook need.
    std::string method;
    std::string name;
    completion_guard done;
    // Sent to the backend: the gateway's traceparent (empty: none) and the caller's tracestate.
    inline_text<trace::traceparent_size> traceparent;
    std::string tracestate;
  };
  // The edits of a client request on its way to the backend: its id, its progress token and
  // the trace context in _meta, four at most, kept in the object.
  using edit_list = boost::container::small_vector<jsonrpc::edit, 4>;
  // The trace context of a request being mapped, and the edits that carry it in _meta.
  void continue_trace(std::string_view body, const jsonrpc::envelope& env,
                      const trace::carried* carried, in_flight& entry, edit_list& edits,
                      std::array<std::string, 2>& text);
  mapped map_backend_notification(std::string_view body, const jsonrpc::envelope& env);
  void filter_response(std::string& body, jsonrpc::message_kind kind, std::string_view method,
                       std::string_view name);

  net::any_io_executor ex_;
  std::string id_;
  route_binding route_;
  limits_config limits_;
  std::string upstream_id_;
  std::string protocol_version_ = "2025-03-26";
  std::string client_capabilities_ = "{}";
  bool ready_ = false;
  bool closed_ = false;
  clock::time_point last_activity_ = clock::now();
  clock::time_point store_checked_ = clock::now();
  http_backend* replica_ = nullptr;
  std::shared_ptr<replica_set> replicas_;  // counts this session on its replica
  std::size_t replica_index_ = 0;
  bool adopted_ = false;
  bool unpublished_ = false;
  int active_requests_ = 0;

  std::int64_t next_upstream_id_ = 0;
  std::unordered_map<std::int64_t, in_flight> in_flight_;
  // Looked up by the raw id token (a string_view into the body): no copy per message.
  struct id_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };
  std::unordered_map<std::string, std::int64_t, id_hash, std::equal_to<>> upstream_by_client_id_;
  // The map nodes of requests that finished, emptied and kept for the next ones: a request
  // then allocates no node in either map. A few per session: a client's next request
  // usually arrives after its last one finished.
  static constexpr std::size_t spare_nodes = 4;
  boost::container::small_vector<decltype(in_flight_)::node_type, spare_nodes> spare_in_flight_;
  boost::container::small_vector<decltype(upstream_by_client_id_)::node_type, spare_nodes>
      spare_client_ids_;

  std::int64_t next_client_facing_id_ = 0;
  std::unordered_map<std::int64_t, std::string> server_requests_;  // our id -> backend raw id
  std::unordered_map<std::string, std::int64_t> server_request_by_backend_id_;

  std::uint64_t next_stream_ = 1;
  std::shared_ptr<event_stream> get_stream_;
  std::map<std::uint64_t, std::shared_ptr<event_stream>> post_streams_;
  backend_exchange* tracked_ = nullptr;
  std::shared_ptr<message_channel> channel_;
  bool absorb_initialized_ = false;
  bool legacy_ = false;
  bool initialized_ = false;
  std::string end_reason_;
  principal who_;
  std::shared_ptr<const filter_chain> chain_;
  trace::settings* tracing_ = nullptr;
  std::vector<std::pair<std::string, completion_guard>> staged_;
};

}  // namespace mcpgw
