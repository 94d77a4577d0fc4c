// The gateway's Prometheus metrics, declared in one place (observability/metrics.cc): made once
// by main, passed to the server, the endpoint, the session store and the filters, and served in
// the text exposition format on the admin listener's /metrics.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace mcpgw {

struct request_record;

class metrics {
 public:
  // A backend declares at most this many tools as `tool` label values; calls of any other tool
  // are counted as tool="other". Bounds the label's cardinality whatever backends list.
  static constexpr std::size_t max_declared_tools = 1000;

  metrics();
  // Another worker's metrics (`workers:`): the families of `first` (one registry, one
  // exposition), with this worker's own per-request counts and scrape hooks. Made before the
  // workers run.
  explicit metrics(metrics& first);
  ~metrics();
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  // The text exposition format (version 0.0.4). The scrape hooks run first. One worker only.
  std::string scrape();
  // Gauges that are read rather than kept (sessions, processes, breaker states): `hook` sets
  // them (set_gauge) just before each scrape. Hooks run on their worker's event loop.
  void on_scrape(std::function<void()> hook);

  // How the workers' values of one gauge make the value exposed.
  enum class gauge_merge { sum, max, min };
  // In a scrape hook: the gauge's value as this worker sees it. With one worker it is set at
  // once; with several, collect() merges the workers' values.
  void set_gauge(prometheus::Gauge& gauge, double value, gauge_merge merge = gauge_merge::sum);
  // Several workers: each runs this on its own thread (its hooks, and what record() counted
  // goes into the shared families), then one of them calls collect() with all of them.
  void prepare_scrape();
  std::string collect(std::span<metrics* const> workers);

  // One finished client request: counted by route, backend, method and outcome, its duration
  // split into backend and gateway time; tools/call also by tenant and tool.
  void record(const request_record& r);
  // A tools/list answer of `backend`: the names it lists become `tool` label values.
  void declare_tools(std::string_view backend, std::string_view result_body);
  bool tool_declared(std::string_view backend, std::string_view tool) const;

  // The label value a method is counted under: the MCP method itself, or "other".
  static std::string_view method_label(std::string_view method);

  prometheus::Registry& registry() { return *registry_; }

 private:
  explicit metrics(std::shared_ptr<prometheus::Registry> registry);

  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::function<void()>> hooks_;
  bool several_ = false;  // one of several workers' metrics
  struct gauge_value {
    prometheus::Gauge* gauge;
    double value;
    gauge_merge merge;
  };
  std::vector<gauge_value> gauge_values_;  // set by this worker's hooks in the last scrape

 public:
  // The families, each declared once (metrics.cc names and documents them).
  prometheus::Family<prometheus::Counter>& requests;            // route, backend, method, outcome
  prometheus::Family<prometheus::Histogram>& request_duration;  // route, backend, method
  prometheus::Family<prometheus::Histogram>& backend_duration;  // route, backend, method
  prometheus::Family<prometheus::Histogram>& gateway_duration;  // route, backend, method
  prometheus::Family<prometheus::Counter>& tool_calls;          // tenant, backend, tool, outcome
  prometheus::Family<prometheus::Gauge>& sessions_active;       // route
  prometheus::Family<prometheus::Counter>& sessions_started;    // route
  prometheus::Family<prometheus::Gauge>& sse_streams;           // route
  prometheus::Family<prometheus::Gauge>& stdio_processes;       // backend
  prometheus::Family<prometheus::Gauge>& circuit_state;         // backend, replica
  prometheus::Family<prometheus::Gauge>& replica_up;            // backend, replica
  prometheus::Family<prometheus::Counter>& aggregate_events;    // route, backend, event
  prometheus::Family<prometheus::Counter>& rate_limit_rejections;  // rule
  prometheus::Family<prometheus::Counter>& auth_cache_lookups;     // result
  prometheus::Family<prometheus::Gauge>& auth_cache_entries;
  prometheus::Family<prometheus::Counter>& audit_written;
  prometheus::Family<prometheus::Counter>& audit_failures;
  prometheus::Family<prometheus::Gauge>& audit_queue;
  prometheus::Family<prometheus::Counter>& store_operations;  // store, op, outcome
  prometheus::Family<prometheus::Histogram>& store_duration;  // store, op
  prometheus::Family<prometheus::Counter>& received_bytes;    // route
  prometheus::Family<prometheus::Counter>& sent_bytes;        // route
  prometheus::Family<prometheus::Counter>& handovers;         // connections moved between workers
  prometheus::Family<prometheus::Gauge>& draining;
  prometheus::Family<prometheus::Gauge>& build_info;  // version

  // Bucket bounds (seconds) of the request and backend histograms, and of the gateway's own
  // time, which is two orders of magnitude shorter.
  static const prometheus::Histogram::BucketBoundaries& request_buckets();
  static const prometheus::Histogram::BucketBoundaries& gateway_buckets();

 private:
  // What record() counts per request is kept in plain integers on the event loop and folded
  // into the Prometheus children at each scrape: prometheus-cpp takes a mutex and scans its
  // bounds as doubles for every Observe, and spins on an atomic for every Increment.
  struct local_counter {
    prometheus::Counter* target;
    std::uint64_t pending = 0;
    void fold();
  };
  class local_histogram {
   public:
    local_histogram(prometheus::Histogram& target,
                    const prometheus::Histogram::BucketBoundaries& bounds);
    void observe(std::chrono::nanoseconds value);
    void fold();

   private:
    prometheus::Histogram* target_;
    std::vector<std::int64_t> bounds_;   // nanoseconds, ascending (a value counts where <=)
    std::vector<std::uint64_t> counts_;  // one per bound, then the +Inf bucket
    std::int64_t sum_ = 0;               // nanoseconds
    std::uint64_t observed_ = 0;         // since the last fold
  };
  // The children of one label set, found by a key built in a reused buffer: no allocation per
  // request once a label set has been seen.
  struct timing {
    local_histogram total;
    local_histogram backend;
    local_histogram gateway;
  };
  // Everything record() counted since the last scrape goes into the Prometheus children.
  void fold();
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
  };
  template <class T>
  using by_key = std::unordered_map<std::string, T, key_hash, std::equal_to<>>;
  by_key<local_counter> request_children_;
  by_key<timing> timing_children_;
  by_key<local_counter> tool_children_;
  // The child each map gave for the last key asked: consecutive requests mostly share their
  // labels, and a compare is cheaper than a hash and a probe. Nodes do not move.
  template <class T>
  struct last_found {
    std::string key;
    T* child = nullptr;
  };
  template <class T, class Make>
  T& find_or_add(by_key<T>& map, last_found<T>& last, std::string_view key, Make&& make);
  last_found<local_counter> last_request_;
  last_found<timing> last_timing_;
  last_found<local_counter> last_tool_;
  // The tools each backend declared, shared by the workers' metrics (a worker counts a tool by
  // name even if another worker relayed the tools/list); locked only with several workers.
  struct declared_tools {
    std::shared_mutex mutex;
    by_key<std::unordered_set<std::string, key_hash, std::equal_to<>>> names;
  };
  std::shared_ptr<declared_tools> declared_;
  std::string key_;
};

}  // namespace mcpgw
