// An aggregated route's MCP server: one client session made of a session on each backend.
// The session layer sees it as a message_channel (like a stdio process): what the client sends
// goes in through send(), and the answers, notifications and server requests come out through
// the channel's queue. It answers initialize and ping itself, merges the list methods of every
// backend (names and URIs namespaced, cursors combined), routes tools/call, prompts/get,
// resources/*, completion/complete by name or URI, and keeps going when a backend fails: that
// backend's items are left out until it is back, and clients hear list_changed both times.
#pragma once

#include "aggregate/json_view.h"
#include "aggregate/naming.h"
#include "aggregate/upstream.h"

#include "backend/message_channel.h"
#include "mcpgw/config.h"
#include "mcpgw/jsonrpc.h"
#include "mcpgw/log.h"
#include "mcpgw/metrics.h"

#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace mcpgw::aggregate {

// An aggregated route and its backends, built by the server and shared by its sessions.
class route_state {
 public:
  // `tenants`: whose `backends` rules decide which of the route's backends a session holds.
  route_state(const route_config& config, std::vector<member_binding> members,
              const limits_config& limits, logger& log,
              const std::vector<tenant_config>* tenants = nullptr);

  const route_config& config() const { return config_; }
  const std::vector<member_binding>& members() const { return members_; }
  const limits_config& limits() const { return limits_; }
  logger& log() const { return log_; }
  // What sessions and metrics call the route's backend: "aggregate:<path>".
  const std::string& name() const { return name_; }
  // Shared by the route's sessions and their upstreams (one thread; every use is synchronous):
  // their buffers grow to the largest message once per route, not once per session. An
  // envelope's strings (method, name, ...) point into the decoder: copy what is needed after
  // a co_await (its tokens are offsets into the message and stay valid).
  jsonrpc::decoder& decoder() { return decoder_; }
  json_view& json() { return json_; }
  // Whether sessions of `tenant` may use backend `member` (tenants[].allow/deny.backends).
  bool permits(std::string_view tenant, std::size_t member) const;
  // The longest silence a session waits through for one request on this route.
  duration call_timeout() const;
  // A backend's capabilities as its last initialize on this replica answered ("" unknown):
  // lazy sessions offer them without opening the backend's session first.
  std::string& known_capabilities(std::size_t member) { return known_[member]; }

  // mcpgw_aggregate_backend_events_total, per backend (nothing is counted without metrics).
  enum class event { left_out, lost, joined, reopened };
  void set_metrics(metrics* stats);
  void count(std::size_t member, event e) {
    if (!counters_.empty()) {
      counters_[member][static_cast<std::size_t>(e)]->Increment();
    }
  }

 private:
  const route_config& config_;
  std::vector<member_binding> members_;
  const limits_config& limits_;
  logger& log_;
  const std::vector<tenant_config>* tenants_;
  std::string name_;
  jsonrpc::decoder decoder_;
  json_view json_;
  std::vector<std::string> known_;
  std::vector<std::array<prometheus::Counter*, 4>> counters_;
};

class aggregator final : public message_channel, public upstream_owner {
 public:
  // Sessions of `tenant` get the backends' credential headers and environment for it.
  static std::shared_ptr<aggregator> create(net::any_io_executor ex, route_state& route,
                                            std::string tenant);
  aggregator(net::any_io_executor ex, route_state& route, std::string tenant);
  ~aggregator() override;

  bool send(std::string_view message) override;
  void stop() override;
  std::string describe() const override { return route_.name(); }

  net::awaitable<void> from_backend(std::size_t member, std::string message) override;
  void lost(std::size_t member, const std::string& why) override;
  void reopened(std::size_t member) override;

  enum class kind { tools, prompts, resources, templates };

 private:
  struct target {
    std::size_t member = 0;
    std::string name;  // the backend's own
  };
  using catalog = std::unordered_map<std::string, target>;

  net::awaitable<void> handle_request(std::string text);
  void handle_notification(std::string_view text, const jsonrpc::envelope& env);
  void handle_response(std::string_view text, const jsonrpc::envelope& env);
  net::awaitable<void> reply(std::string message);

  net::awaitable<std::string> initialize(std::string_view text, const jsonrpc::envelope& env);
  net::awaitable<std::string> list(kind k, std::string_view text, std::string_view id);
  net::awaitable<std::string> call_by_name(kind k, std::string_view text,
                                           const jsonrpc::envelope& env, std::string_view id);
  net::awaitable<std::string> call_by_uri(std::string_view text, const jsonrpc::envelope& env,
                                          std::string_view id);
  net::awaitable<std::string> complete(std::string_view text, const jsonrpc::envelope& env,
                                       std::string_view id);
  net::awaitable<std::string> set_level(std::string_view text, std::string_view id);
  // Sends a request to one backend (opening its session first in lazy mode) and maps the
  // URIs in its answer to what the client sees.
  net::awaitable<std::string> forward(std::size_t member, std::string body, std::string_view id,
                                      std::string_view method);
  // A call to one backend, recorded under the client's request id for cancellation; not sent
  // when the client cancelled that request already.
  net::awaitable<call_result> tracked_call(std::size_t member, std::string body,
                                           std::string_view id, std::string_view method);

  // One page of kind `k` from each of `from` at once, each bounded by list_timeout; an answer
  // that comes later makes the client list again (list_changed).
  struct fetched {
    std::optional<call_result> result;
  };
  net::awaitable<std::vector<fetched>> fan_out(kind k, std::span<const page_position> from,
                                               std::string_view id);
  // The page merged: items renamed and filtered, recorded in the catalog (tools, prompts).
  std::string merge(kind k, std::span<const page_position> from, std::span<fetched> answers,
                    std::string_view id, std::vector<page_position>& next);
  // Lists every page of kind `k` (tools, prompts) again, on the backends whose prefix `name`
  // begins with, to find a name the catalog lacks.
  net::awaitable<void> refresh(kind k, std::string_view name);
  // The backend's session, opened when it is not (lazy mode, or after it went down).
  net::awaitable<bool> ensure(std::size_t member);
  bool offers(std::size_t member, kind k) const;
  void schedule_rejoin(std::size_t member);
  net::awaitable<void> rejoin(std::size_t member);
  void joined(std::size_t member);
  // Subscriptions and the log level, sent again to a new session on the backend.
  void reapply(std::size_t member);
  void changed(std::size_t member);
  void notify_changed(kind k);
  std::string next_internal_id() { return "\"mcpgw-" + std::to_string(++internal_ids_) + "\""; }
  // URIs in a backend's answer as the client sees them.
  std::string map_uris(std::size_t member, std::string response);
  catalog& catalog_of(kind k) { return k == kind::tools ? tools_ : prompts_; }
  const name_filter& route_filter(kind k) const;
  const name_filter& member_filter(std::size_t member, kind k) const;

  net::any_io_executor ex_;
  route_state& route_;
  std::string tenant_;
  logger& log_;
  jsonrpc::decoder& decoder_;
  json_view& json_;
  std::vector<std::shared_ptr<upstream>> upstreams_;
  std::vector<bool> permitted_;  // the backends this session's tenant may use
  std::vector<bool> rejoining_;
  std::vector<std::unique_ptr<net::steady_timer>> rejoin_timers_;
  std::string init_;  // the client's initialize, with the id backends get
  bool stopped_ = false;
  bool initialized_ = false;  // the client got its initialize answer
  std::uint64_t internal_ids_ = 0;
  catalog tools_;
  catalog prompts_;
  // The backends' own requests to the client: our id -> backend, and its id there.
  struct server_request {
    std::size_t member = 0;
    std::string id;
  };
  std::int64_t next_server_request_ = 1;
  std::map<std::int64_t, server_request> server_requests_;
  std::vector<std::pair<std::size_t, std::string>> early_;  // before the initialize answer
  // Client requests being handled, by id: the backends they went to, and whether the client
  // cancelled (then nothing more is sent upstream for them).
  struct request_state {
    std::vector<std::size_t> members;
    bool cancelled = false;
  };
  std::unordered_map<std::string, request_state> in_flight_;
  // Catalog refreshes, per kind: one at a time, and a backend not again right after one.
  struct refresh_state {
    bool running = false;
    std::vector<std::chrono::steady_clock::time_point> last;  // per backend
    std::unique_ptr<net::steady_timer> done;
  };
  std::array<refresh_state, 2> refreshes_;
  // Subscriptions (member, backend URI) and the log level, applied again after a rejoin.
  std::set<std::pair<std::size_t, std::string>> subscriptions_;
  std::string log_level_;
  std::vector<std::array<bool, 4>> conflicts_logged_;
};

}  // namespace mcpgw::aggregate
