#include "mcpgw/metrics.h"

#include "mcpgw/filter.h"
#include "mcpgw/version.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <prometheus/text_serializer.h>
#include <sstream>

namespace mcpgw {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Requests the gateway counts under their own name; any other method is "other", so a client
// inventing method names cannot grow the label set. Looked up in order, once per request: the
// most frequent first.
constexpr std::array<std::string_view, 24> known_methods{"tools/call",
                                                         "initialize",
                                                         "ping",
                                                         "tools/list",
                                                         "prompts/list",
                                                         "prompts/get",
                                                         "resources/list",
                                                         "resources/templates/list",
                                                         "resources/read",
                                                         "resources/subscribe",
                                                         "resources/unsubscribe",
                                                         "completion/complete",
                                                         "logging/setLevel",
                                                         "sampling/createMessage",
                                                         "elicitation/create",
                                                         "roots/list",
                                                         "tasks/get",
                                                         "tasks/list",
                                                         "tasks/result",
                                                         "tasks/cancel",
                                                         "server/discover",
                                                         "subscriptions/listen",
                                                         "notifications/initialized",
                                                         "notifications/cancelled"};

void append_key(std::string& key, std::string_view part) {
  key += part;
  key += '\x1f';
}

}  // namespace

const prometheus::Histogram::BucketBoundaries& metrics::request_buckets() {
  static const prometheus::Histogram::BucketBoundaries bounds{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
  return bounds;
}

const prometheus::Histogram::BucketBoundaries& metrics::gateway_buckets() {
  static const prometheus::Histogram::BucketBoundaries bounds{
      0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
      0.001,    0.0025,  0.005,    0.01,    0.025,  0.1,     1};
  return bounds;
}

metrics::metrics() : metrics(std::make_shared<prometheus::Registry>()) {}

metrics::metrics(metrics& first) : metrics(first.registry_) {
  // The registry merges a family registered again into the first's: this object's families
  // are the first's, and only what record() counts and the hooks are its own.
  first.several_ = true;
  several_ = true;
  declared_ = first.declared_;
}

metrics::metrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      requests(BuildCounter()
                   .Name("mcpgw_requests_total")
                   .Help("Client JSON-RPC requests by route, backend, method and outcome "
                         "(answered, error, rejected, cancelled, abandoned)")
                   .Register(*registry_)),
      request_duration(BuildHistogram()
                           .Name("mcpgw_request_duration_seconds")
                           .Help("Time from a client request's arrival to its answer")
                           .Register(*registry_)),
      backend_duration(BuildHistogram()
                           .Name("mcpgw_backend_duration_seconds")
                           .Help("Time from forwarding a request to the backend's answer")
                           .Register(*registry_)),
      gateway_duration(BuildHistogram()
                           .Name("mcpgw_gateway_duration_seconds")
                           .Help("The gateway's own time per request: the request's duration "
                                 "less the backend's")
                           .Register(*registry_)),
      tool_calls(BuildCounter()
                     .Name("mcpgw_tool_calls_total")
                     .Help("tools/call requests by tenant, backend, tool and outcome (tool is "
                           "\"other\" for tools the backend did not list)")
                     .Register(*registry_)),
      sessions_active(BuildGauge()
                          .Name("mcpgw_sessions_active")
                          .Help("Client sessions held by this replica")
                          .Register(*registry_)),
      sessions_started(BuildCounter()
                           .Name("mcpgw_sessions_started_total")
                           .Help("Client sessions initialized on this replica")
                           .Register(*registry_)),
      sse_streams(BuildGauge()
                      .Name("mcpgw_sse_streams_open")
                      .Help("SSE responses open to clients (GET streams and streamed POSTs)")
                      .Register(*registry_)),
      stdio_processes(BuildGauge()
                          .Name("mcpgw_stdio_processes")
                          .Help("stdio backend processes running (warm, leased or stopping)")
                          .Register(*registry_)),
      circuit_state(BuildGauge()
                        .Name("mcpgw_circuit_state")
                        .Help("Circuit breaker state: 0 closed, 1 half-open, 2 open")
                        .Register(*registry_)),
      replica_up(BuildGauge()
                     .Name("mcpgw_backend_replica_up")
                     .Help("1 when the backend replica is in rotation (health checks pass)")
                     .Register(*registry_)),
      aggregate_events(
          BuildCounter()
              .Name("mcpgw_aggregate_backend_events_total")
              .Help("What happened to backends in the sessions of aggregated routes: left_out "
                    "(missed initialize or a list deadline), lost (gone mid-session), joined "
                    "(back, or late), reopened (a new backend session after a 404)")
              .Register(*registry_)),
      rate_limit_rejections(BuildCounter()
                                .Name("mcpgw_rate_limit_rejections_total")
                                .Help("Requests a rate-limit rule refused, by rule")
                                .Register(*registry_)),
      auth_cache_lookups(
          BuildCounter()
              .Name("mcpgw_auth_cache_lookups_total")
              .Help("Credential cache lookups of the auth filter: hit (not verified again) or "
                    "miss (verified; cached when valid)")
              .Register(*registry_)),
      auth_cache_entries(BuildGauge()
                             .Name("mcpgw_auth_cache_entries")
                             .Help("Verified credentials the auth filter holds")
                             .Register(*registry_)),
      audit_written(BuildCounter()
                        .Name("mcpgw_audit_records_written_total")
                        .Help("Audit records written and flushed to the audit file")
                        .Register(*registry_)),
      audit_failures(BuildCounter()
                         .Name("mcpgw_audit_write_failures_total")
                         .Help("Audit record writes that failed (disk full, I/O error)")
                         .Register(*registry_)),
      audit_queue(BuildGauge()
                      .Name("mcpgw_audit_queue_depth")
                      .Help("Audit records queued and not yet written")
                      .Register(*registry_)),
      store_operations(BuildCounter()
                           .Name("mcpgw_session_store_operations_total")
                           .Help("Session store operations by store, op and outcome")
                           .Register(*registry_)),
      store_duration(BuildHistogram()
                         .Name("mcpgw_session_store_duration_seconds")
                         .Help("Session store operation latency")
                         .Register(*registry_)),
      received_bytes(BuildCounter()
                         .Name("mcpgw_received_bytes_total")
                         .Help("Request body bytes received from clients, by route")
                         .Register(*registry_)),
      sent_bytes(BuildCounter()
                     .Name("mcpgw_sent_bytes_total")
                     .Help("Bytes written to clients (headers and bodies), by route")
                     .Register(*registry_)),
      handovers(BuildCounter()
                    .Name("mcpgw_worker_handovers_total")
                    .Help("Client connections handed to the worker that holds the session their "
                          "request names (workers > 1)")
                    .Register(*registry_)),
      draining(BuildGauge()
                   .Name("mcpgw_draining")
                   .Help("1 while the replica drains (SIGTERM received)")
                   .Register(*registry_)),
      build_info(BuildGauge()
                     .Name("mcpgw_build_info")
                     .Help("The running version; always 1")
                     .Register(*registry_)) {
  declared_ = std::make_shared<declared_tools>();
  build_info.Add({{"version", version}}).Set(1);
  draining.Add({}).Set(0);
  audit_queue.Add({}).Set(0);
  audit_written.Add({});
  audit_failures.Add({});
  handovers.Add({});
}

metrics::~metrics() = default;

void metrics::local_counter::fold() {
  if (pending != 0) {
    target->Increment(static_cast<double>(pending));
    pending = 0;
  }
}

metrics::local_histogram::local_histogram(prometheus::Histogram& target,
                                          const prometheus::Histogram::BucketBoundaries& bounds)
    : target_(&target), counts_(bounds.size() + 1) {
  bounds_.reserve(bounds.size());
  for (double b : bounds) {
    bounds_.push_back(std::llround(b * 1e9));
  }
}

void metrics::local_histogram::observe(std::chrono::nanoseconds value) {
  const std::int64_t ns = value.count();
  std::size_t bucket = 0;
  while (bucket < bounds_.size() && ns > bounds_[bucket]) {
    ++bucket;
  }
  ++counts_[bucket];
  sum_ += ns;
  ++observed_;
}

void metrics::local_histogram::fold() {
  if (observed_ == 0) {
    return;
  }
  std::vector<double> increments(counts_.size());
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    increments[i] = static_cast<double>(counts_[i]);
    counts_[i] = 0;
  }
  target_->ObserveMultiple(increments, static_cast<double>(sum_) / 1e9);
  sum_ = 0;
  observed_ = 0;
}

void metrics::fold() {
  for (auto& [key, counter] : request_children_) {
    counter.fold();
  }
  for (auto& [key, t] : timing_children_) {
    t.total.fold();
    t.backend.fold();
    t.gateway.fold();
  }
  for (auto& [key, counter] : tool_children_) {
    counter.fold();
  }
}

void metrics::on_scrape(std::function<void()> hook) { hooks_.push_back(std::move(hook)); }

void metrics::set_gauge(prometheus::Gauge& gauge, double value, gauge_merge merge) {
  if (several_) {
    gauge_values_.push_back({&gauge, value, merge});
  } else {
    gauge.Set(value);
  }
}

void metrics::prepare_scrape() {
  gauge_values_.clear();
  for (const auto& hook : hooks_) {
    hook();
  }
  fold();
}

std::string metrics::collect(std::span<metrics* const> workers) {
  // Each worker's value of a gauge, merged: gauges that count (sessions, processes) add up,
  // states take the worst or the least.
  struct merged {
    double value;
    gauge_merge merge;
  };
  std::unordered_map<prometheus::Gauge*, merged> gauges;
  for (const metrics* w : workers) {
    for (const gauge_value& g : w->gauge_values_) {
      auto [it, first] = gauges.try_emplace(g.gauge, merged{g.value, g.merge});
      if (first) {
        continue;
      }
      double& v = it->second.value;
      switch (g.merge) {
        case gauge_merge::sum:
          v += g.value;
          break;
        case gauge_merge::max:
          v = std::max(v, g.value);
          break;
        case gauge_merge::min:
          v = std::min(v, g.value);
          break;
      }
    }
  }
  for (const auto& [gauge, m] : gauges) {
    gauge->Set(m.value);
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return std::move(out).str();
}

std::string metrics::scrape() {
  prepare_scrape();
  metrics* const self[] = {this};
  return collect(self);
}

std::string_view metrics::method_label(std::string_view method) {
  for (std::string_view known : known_methods) {
    if (known == method) {
      return known;
    }
  }
  return "other";
}

template <class T, class Make>
T& metrics::find_or_add(by_key<T>& map, last_found<T>& last, std::string_view key, Make&& make) {
  if (last.child != nullptr && last.key == key) {
    return *last.child;
  }
  auto it = map.find(key);
  if (it == map.end()) {
    it = map.emplace(std::string(key), make()).first;
  }
  last.key.assign(key);
  last.child = &it->second;
  return it->second;
}

void metrics::record(const request_record& r) {
  const std::string_view method = method_label(r.method);
  std::string_view outcome = to_string(r.outcome);
  const bool tool_call = method == "tools/call";
  if (tool_call && r.outcome == request_outcome::answered && r.tool_error) {
    outcome = "tool_error";
  }

  key_.clear();
  append_key(key_, r.route);
  append_key(key_, r.backend);
  append_key(key_, method);
  const std::size_t timing_key = key_.size();
  key_ += outcome;
  ++find_or_add<local_counter>(request_children_, last_request_, key_, [&] {
      return local_counter{&requests.Add({{"route", r.route},
                                          {"backend", r.backend},
                                          {"method", std::string(method)},
                                          {"outcome", std::string(outcome)}})};
    }).pending;

  timing& times = find_or_add<timing>(
      timing_children_, last_timing_, std::string_view(key_.data(), timing_key), [&] {
        prometheus::Labels labels{
            {"route", r.route}, {"backend", r.backend}, {"method", std::string(method)}};
        return timing{{request_duration.Add(labels, request_buckets()), request_buckets()},
                      {backend_duration.Add(labels, request_buckets()), request_buckets()},
                      {gateway_duration.Add(labels, gateway_buckets()), gateway_buckets()}};
      });
  using std::chrono::nanoseconds;
  const auto elapsed = std::chrono::duration_cast<nanoseconds>(r.elapsed);
  const auto backend = std::chrono::duration_cast<nanoseconds>(r.backend_elapsed);
  times.total.observe(elapsed);
  if (backend.count() > 0) {
    times.backend.observe(backend);
  }
  times.gateway.observe(std::max(elapsed - backend, nanoseconds(0)));

  if (!tool_call) {
    return;
  }
  const std::string_view tool =
      tool_declared(r.backend, r.name) ? std::string_view(r.name) : "other";
  key_.clear();
  append_key(key_, r.who.tenant);
  append_key(key_, r.backend);
  append_key(key_, tool);
  key_ += outcome;
  ++find_or_add<local_counter>(tool_children_, last_tool_, key_, [&] {
      return local_counter{&tool_calls.Add({{"tenant", r.who.tenant},
                                            {"backend", r.backend},
                                            {"tool", std::string(tool)},
                                            {"outcome", std::string(outcome)}})};
    }).pending;
}

bool metrics::tool_declared(std::string_view backend, std::string_view tool) const {
  std::shared_lock<std::shared_mutex> lock;
  if (several_) {
    lock = std::shared_lock(declared_->mutex);
  }
  const auto& declared = declared_->names;
  auto it = declared.find(backend);
  return it != declared.end() && it->second.find(tool) != it->second.end();
}

void metrics::declare_tools(std::string_view backend, std::string_view result_body) {
  std::unique_lock<std::shared_mutex> lock;
  if (several_) {
    lock = std::unique_lock(declared_->mutex);
  }
  auto& declared = declared_->names;
  auto it = declared.find(backend);
  if (it == declared.end()) {
    it = declared.emplace(std::string(backend), decltype(it->second){}).first;
  }
  auto& names = it->second;
  if (names.size() >= max_declared_tools) {
    return;
  }
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(result_body);
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) {
    return;
  }
  simdjson::ondemand::array tools;
  if (doc["result"]["tools"].get_array().get(tools)) {
    return;
  }
  for (auto element : tools) {
    std::string_view name;
    simdjson::ondemand::object tool;
    if (element.get_object().get(tool) || tool["name"].get_string().get(name)) {
      return;  // not a tools/list answer after all: what was read so far stays
    }
    if (names.size() >= max_declared_tools) {
      return;
    }
    names.emplace(name);
  }
}

}  // namespace mcpgw
