// The client-facing Streamable HTTP endpoint (MCP 2025-03-26, 2025-06-18, 2025-11-25):
// POST, GET and DELETE on a route path, terminating the client's session and relaying to the
// route's HTTP backend. Owned by the server; one per gateway, shared by all routes.
#pragma once

#include "cluster/cluster.h"
#include "filter/filter_chain.h"
#include "store/session_store.h"

#include "backend/http_backend.h"
#include "http/client_request.h"
#include "http/responder.h"
#include "mcp/session.h"
#include "mcpgw/config.h"
#include "mcpgw/jsonrpc.h"
#include "mcpgw/log.h"
#include "mcpgw/metrics.h"
#include "server/workers.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

namespace mcpgw {

namespace endpoint_detail {
class staged_completion;
}

class streamable_http_endpoint {
 public:
  // `chain`: the filters every message passes (null or empty: none); `store`: where sessions
  // are recorded (null: a memory store of its own).
  streamable_http_endpoint(net::any_io_executor ex, const gateway_config& config, logger& log,
                           std::shared_ptr<const filter_chain> chain = nullptr,
                           std::shared_ptr<session_store> store = nullptr);

  // `forwarded`: the principal of a request another replica forwarded (its HTTP hooks ran
  // there); null for a client's request.
  net::awaitable<void> handle(client_request& req, responder& res, const route_binding& route,
                              const principal* forwarded = nullptr);
  // One of `count` workers (server/workers.h): ids minted here hash to `index`, and
  // session_store.max_sessions counts the sessions of all of them in `held`.
  void join_workers(std::size_t index, std::size_t count, std::atomic<std::size_t>& held) {
    worker_index_ = index;
    worker_count_ = count;
    held_total_ = &held;
    note_held();
  }
  // Replicas that forward to each other (cluster:); sessions held here are recorded with this
  // replica's advertised address as their owner.
  void set_cluster(cluster::peers* peers) {
    cluster_ = peers;
    replica_id_ = peers->self();
  }

  // The 2024-11-05 HTTP+SSE transport: GET <route>/sse and POST <route>/message?sessionId=.
  enum class legacy_kind { sse, message };
  static std::string legacy_path(const route_binding& route, legacy_kind kind);
  net::awaitable<void> handle_legacy(client_request& req, responder& res,
                                     const route_binding& route, legacy_kind kind);

  // Starts the idle-session sweeper.
  void start();
  // First stage of shutdown: no new sessions, idle sessions end, GET streams close; sessions
  // with requests in flight keep going.
  void begin_shutdown();
  // Second stage: every remaining session ends (backend sessions deleted in the background).
  void finish_shutdown();
  std::size_t session_count() const { return sessions_.size(); }
  std::size_t session_count(std::string_view route) const;
  // Where sessions started are counted (null: nowhere).
  void set_metrics(metrics* stats) { stats_ = stats; }
  // Backend requests still running on behalf of ended sessions (upstream DELETEs).
  int background_tasks() const { return background_; }

 private:
  enum class relay_outcome { completed, error_response, failed };

  net::awaitable<void> handle_post(client_request& req, responder& res, const route_binding& route,
                                   const principal& who);
  // handle_post's rare branches, each a coroutine of its own (see handle_post).
  struct post_refusal {
    unsigned status;
    int code;
    std::string message;
  };
  // 415 or 406 for a POST whose Content-Type or Accept does not fit.
  std::optional<post_refusal> post_refused(const client_request& req) const;
  net::awaitable<void> initialize_post(client_request& req, responder& res,
                                       const route_binding& route, const jsonrpc::envelope& env,
                                       const principal& who);
  net::awaitable<void> handle_batch(std::shared_ptr<session> s, const principal& who,
                                    std::string_view body, const jsonrpc::decoded_body& decoded,
                                    responder& res);
  // A notification or a response to a server request, on its way to the backend.
  net::awaitable<void> forward_client_message(std::shared_ptr<session> s, std::string_view body,
                                              const jsonrpc::envelope& env, responder& res);
  net::awaitable<void> handle_get(client_request& req, responder& res, const route_binding& route,
                                  const principal& who);
  net::awaitable<void> handle_delete(client_request& req, responder& res,
                                     const route_binding& route, const principal& who);

  // Runs the HTTP hooks (authentication) on a request; false when a filter answered it.
  net::awaitable<bool> admit(client_request& req, responder& res, const route_binding& route,
                             client_transport transport, principal& who);
  // The requests of a POST the HTTP hooks refused: their completion hooks fire (rejected).
  void complete_refused(const client_request& req, const route_binding& route,
                        const http_context& ctx);
  // A new session of `who` on `route`, with the filter chain attached; `id`: the id of a
  // session taken up from the store (empty: a fresh one).
  std::shared_ptr<session> new_session(const route_binding& route, const principal& who,
                                       std::string id = {});
  // Records a session in the store before its initialize answer leaves, so that the client's
  // next request finds it on any replica. A store failure leaves it working on this replica.
  net::awaitable<void> publish(session& s);
  // A session unknown here, taken up from the store's record when it may be served here (an
  // HTTP backend, same route and principal); null otherwise, with `looked_up` saying why.
  // `owner` is set when the session lives in another replica that this one can forward to.
  net::awaitable<std::shared_ptr<session>> adopt(std::string_view id, const route_binding& route,
                                                 const principal& who, store_result& looked_up,
                                                 std::string& owner);
  // Relays a request for a session held by replica `owner` to it, and its answer back.
  net::awaitable<void> forward(client_request& req, responder& res, const route_binding& route,
                               const principal& who, std::string owner);
  // True when the session continues on other replicas after this one lets it go (a shared
  // store and a backend any replica can reach): ending it here deletes nothing.
  bool lives_elsewhere(const session& s) const {
    return store_->shared() && !s.route().uses_channel() && !s.is_legacy();
  }
  // Lets a session go on this replica only (it idled here, or ended elsewhere).
  void forget_session(const std::shared_ptr<session>& s);
  net::awaitable<void> retire(std::shared_ptr<session> s, bool delete_upstream_session,
                              bool erase_record);
  // One client message of session `s` through the request hooks. The hooks that decide at once
  // run in the constructor, so a message none of them holds up costs no coroutine; when one
  // must wait, co_await wait(). settle() then applies the outcome: a request that passed has
  // its completion staged on the session; one that was stopped completes as rejected, and
  // `reply` says how to answer it. Lives in the caller's frame, for one message.
  // `who`: the principal of the HTTP request that carried the message (the same identity as the
  // session's, with this request's token scopes).
  class admission {
   public:
    // `carried`: what the HTTP request carried for correlation (its trace context headers and
    // request id, looked up once by the server), null when the message came without one.
    admission(const streamable_http_endpoint& endpoint, session& s, const principal& who,
              const request_headers* headers, std::string_view text, const jsonrpc::envelope& env,
              const trace::carried* carried);
    admission(const admission&) = delete;
    admission& operator=(const admission&) = delete;
    bool decided() const { return status_.has_value(); }
    net::awaitable<void> wait();
    filter_status settle(local_reply& reply);

   private:
    session& s_;
    std::string_view text_;
    const jsonrpc::envelope& env_;
    message_context ctx_;
    completion_guard done_;
    std::size_t waiting_ = 0;  // the first hook that must wait
    std::optional<filter_status> status_;
  };
  // The same as a coroutine, for the paths where a frame is no matter (batches, 2024-11-05).
  net::awaitable<filter_status> filter_message(session& s, const principal& who,
                                               const request_headers* headers,
                                               std::string_view text, const jsonrpc::envelope& env,
                                               local_reply& reply);
  // Answers a single POSTed message that a filter stopped.
  net::awaitable<void> send_local_reply(responder& res, const local_reply& reply,
                                        const jsonrpc::envelope& env, std::string_view body,
                                        const session* s);

  net::awaitable<void> initialize(client_request& req, responder& res, const route_binding& route,
                                  const jsonrpc::envelope& env, const principal& who);
  net::awaitable<void> forward_request(std::shared_ptr<session> s, std::string_view body,
                                       const jsonrpc::envelope& env, responder& res);
  // `cancels`: the upstream request a notifications/cancelled ends, else -1.
  net::awaitable<void> forward_message(std::shared_ptr<session> s, std::string mapped,
                                       const jsonrpc::envelope& env, responder& res,
                                       std::int64_t cancels);
  net::awaitable<void> forward_batch(std::shared_ptr<session> s, const principal& who,
                                     std::string_view body, const jsonrpc::decoded_body& decoded,
                                     responder& res);
  // A batch's answers ("[a,b" without the closing bracket, or empty) as one array, or 202.
  net::awaitable<void> send_batch_answer(session& s, responder& res, std::string& responses);
  net::awaitable<relay_outcome> relay_response(std::shared_ptr<session> s,
                                               std::unique_ptr<backend_exchange> exchange,
                                               std::int64_t upstream_id,
                                               std::string_view client_version, responder& res,
                                               bool is_initialize);
  // relay_response for a backend that answers with an SSE stream.
  net::awaitable<relay_outcome> relay_stream(std::shared_ptr<session> s,
                                             std::unique_ptr<backend_exchange> exchange,
                                             std::int64_t upstream_id,
                                             std::string_view client_version, responder& res,
                                             bool is_initialize);
  // Writes a stream's events after `cursor` to the client, with keep-alive comments, until the
  // stream finishes, a write fails, or (GET streams) the client closes or the gateway stops.
  net::awaitable<void> pump(std::shared_ptr<event_stream> stream, responder& res,
                            std::uint64_t cursor, std::uint64_t owner, bool long_lived);
  // Starts a POST's SSE response (priming event for 2025-11-25 clients) and the pump writing
  // the stream to the client; pump_done stays true when the client could not be written to.
  net::awaitable<void> start_post_stream(std::shared_ptr<event_stream> stream, responder& res,
                                         header_list headers, std::string_view client_version,
                                         std::uint64_t owner, bool& pump_done,
                                         net::steady_timer& pump_signal);
  net::awaitable<void> pump_post_stream(std::shared_ptr<event_stream> stream, responder& res,
                                        std::uint64_t owner, bool& done,
                                        net::steady_timer& done_signal);
  net::awaitable<void> watch_client(responder& res, std::shared_ptr<event_stream> stream,
                                    bool& running, const bool& stop,
                                    net::steady_timer& done_signal);
  net::awaitable<void> open_backend_stream(std::shared_ptr<session> s);
  net::awaitable<void> run_backend_stream(std::shared_ptr<session> s,
                                          std::unique_ptr<backend_exchange> exchange);
  net::awaitable<void> delete_upstream(std::shared_ptr<session> s, bool background);

  // stdio sessions (streamable_http_stdio.cc)
  struct channel_lease {
    std::shared_ptr<message_channel> channel;
    bool initialized = false;  // a warm process initialized with exactly this initialize
    bool at_capacity = false;
    std::string error;
    std::string pid;  // stdio: the process id
  };
  // A channel for a new session: a stdio process from the pool, or a fresh SSE stream.
  // `refill_now` false: a stdio pool's refill waits for the caller (see refill_after_answer).
  net::awaitable<channel_lease> acquire_channel(const session& s, std::string_view warm_request,
                                                bool refill_now = true);
  // The answer to a client's initialize from the warm channel's own (the client's id in it);
  // `accepted` is false when the version it negotiated is one the gateway does not speak.
  std::string warm_answer(session& s, std::string_view body, const jsonrpc::envelope& env,
                          bool& accepted);
  class stdio_link;
  std::shared_ptr<channel_listener> make_stdio_link(const std::shared_ptr<session>& s);
  // The rest of initialize on a channel route, for the session `initialize` made and admitted.
  net::awaitable<void> initialize_stdio(client_request& req, responder& res,
                                        const route_binding& route, const jsonrpc::envelope& env,
                                        std::shared_ptr<session> s,
                                        endpoint_detail::staged_completion& staged);
  // Sends a request to the session's process and relays what it says about it to the client.
  net::awaitable<relay_outcome> send_stdio_request(std::shared_ptr<session> s,
                                                   std::string_view body,
                                                   const jsonrpc::envelope& env,
                                                   std::string_view client_version, responder& res,
                                                   bool is_initialize);
  net::awaitable<void> forward_message_stdio(std::shared_ptr<session> s, std::string mapped,
                                             const jsonrpc::envelope& env, responder& res,
                                             std::int64_t cancels);
  net::awaitable<void> forward_batch_stdio(std::shared_ptr<session> s, const principal& who,
                                           std::string_view body,
                                           const jsonrpc::decoded_body& decoded, responder& res);
  // One message from a session's process, put on the stream it belongs to.
  net::awaitable<void> deliver(std::shared_ptr<session> s, std::string message);
  void oversize(const std::shared_ptr<session>& s, std::string_view id, std::size_t size);
  void process_exited(const std::shared_ptr<session>& s, const std::string& why);
  std::string stdio_failure(const session& s, std::string_view what) const;
  // "did not answer within its deadline (stdio.timeout ... limits.max_call_duration ...)"
  std::string deadline_words(const session& s) const;

  // HTTP+SSE sessions (legacy_sse.cc)
  net::awaitable<void> legacy_open(client_request& req, responder& res, const route_binding& route,
                                   const principal& who);
  net::awaitable<void> legacy_post(client_request& req, responder& res, const route_binding& route,
                                   const principal& who);
  // Forwards what one POST carried, after the POST was answered 202.
  net::awaitable<void> legacy_process(std::shared_ptr<session> s,
                                      std::shared_ptr<const principal> who, std::string body);
  // Back-pressure: waits while the session's stream is full (its client is not reading).
  net::awaitable<void> legacy_room(std::shared_ptr<session> s);
  void legacy_push(session& s, std::string message);
  net::awaitable<void> legacy_request(std::shared_ptr<session> s, std::string_view text,
                                      const jsonrpc::envelope& env);
  // True when the process answered (for initialize: with a version the gateway speaks).
  net::awaitable<bool> legacy_stdio_request(std::shared_ptr<session> s, std::string_view text,
                                            const jsonrpc::envelope& env, bool is_initialize);
  net::awaitable<void> legacy_forward(std::shared_ptr<session> s, std::string mapped,
                                      const jsonrpc::envelope& env, std::int64_t cancels);
  net::awaitable<void> sweep();

  // Looks up the session of a request; answers 400/404 itself and returns null when absent.
  // A session belongs to the principal that created it: for anyone else it does not exist.
  net::awaitable<std::shared_ptr<session>> find_session(client_request& req, responder& res,
                                                        const route_binding& route,
                                                        const principal& who);
  // The same decided at once when it can be: the session is here, every check passes and the
  // store needs no word. Null sends the request through find_session, which answers the rest.
  std::shared_ptr<session> session_at_hand(const client_request& req, const route_binding& route,
                                           const principal& who);
  // Why a request is refused (403) for its Host or Origin header; nullopt when it is not.
  // Checks that decide at once are plain functions: a coroutine is a heap block per request.
  std::optional<std::string> origin_refusal(const client_request& req) const;
  // Why a request is refused (415) for a body not declared application/json.
  std::optional<std::string> json_type_refusal(const client_request& req) const;
  // Ends a session for good: its record is erased from the store, and with
  // `delete_upstream` its backend session is deleted (both in the background).
  void end_session(const std::shared_ptr<session>& s, bool delete_upstream);
  std::string mint_session_id();
  void count_started(const route_binding& route);
  net::awaitable<bool> send_error(responder& res, unsigned status, int code,
                                  std::string_view message, std::string_view id_raw = {},
                                  header_list extra = {});
  std::string failure_message(const http_backend& backend, backend_failure f) const;

  net::any_io_executor ex_;
  const gateway_config& config_;
  logger& log_;
  std::shared_ptr<const filter_chain> chain_;  // null when no filters are configured
  std::shared_ptr<session_store> store_;
  cluster::peers* cluster_ = nullptr;
  std::string replica_id_;  // names this process in the records of sessions it holds
  jsonrpc::decoder decoder_;
  trace::settings tracing_;
  metrics* stats_ = nullptr;
  // Transparent hashing: a lookup by the header's string_view allocates nothing.
  struct id_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };
  std::unordered_map<std::string, std::shared_ptr<session>, id_hash, std::equal_to<>> sessions_;
  // Sessions known to live in another replica: id -> owner, re-read after cache_ttl.
  struct remote_session {
    std::string owner;
    std::string route;
    principal who;
    session::clock::time_point expires;
  };
  std::unordered_map<std::string, remote_session, id_hash, std::equal_to<>> remote_;
  net::steady_timer sweep_timer_;
  bool shutting_down_ = false;
  int background_ = 0;
  std::size_t pending_initializes_ = 0;  // counted against max_sessions while in flight
  // Room for one more session under session_store.max_sessions (sessions held and
  // initializes in flight). With several workers the room is taken from the total at once, so
  // workers initializing together cannot overshoot; the caller then counts the session here
  // (pending_initializes_ or sessions_), which note_held() finds already published.
  bool take_session_slot() {
    const std::size_t max = config_.session_store.max_sessions;
    if (held_total_ == nullptr) {
      return sessions_.size() + pending_initializes_ < max;
    }
    if (!workers::take_one(*held_total_, max)) {
      return false;
    }
    ++held_published_;
    return true;
  }
  // After sessions_ or pending_initializes_ changed: this worker's share of the total.
  void note_held() {
    if (held_total_ != nullptr) {
      const std::size_t now = sessions_.size() + pending_initializes_;
      held_total_->fetch_add(now - held_published_, std::memory_order_relaxed);
      held_published_ = now;
    }
  }
  std::size_t worker_index_ = 0;
  std::size_t worker_count_ = 1;
  std::atomic<std::size_t>* held_total_ = nullptr;
  std::size_t held_published_ = 0;
};

}  // namespace mcpgw
