// The gateway's configuration: the parsed, validated, immutable form of gateway.yaml.
// Parsed once at start-up (main, --check-config); every component gets a const reference.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgw {

using duration = std::chrono::milliseconds;

struct host_port {
  std::string host;  // as written, IPv6 without brackets ("::1")
  std::uint16_t port = 0;
};

struct tls_config {
  std::string cert;  // PEM certificate chain file
  std::string key;   // PEM private key file
};

struct session_store_config {
  std::string type = "memory";  // memory (this process) or redis (shared by replicas)
  duration idle_timeout = std::chrono::minutes(30);  // also the records' sliding TTL
  std::size_t max_sessions = 10000;                  // per replica
  // redis
  std::string url;                             // redis://[[user]:password@]host[:port][/db]
  std::string key_prefix = "mcpgw:";           // every key the gateway writes starts with it
  std::string password_env;                    // variable holding the password (beats the URL's)
  std::string password;                        // read from password_env at start-up
  duration timeout = std::chrono::seconds(1);  // one command, round trip
  duration connect_timeout = std::chrono::seconds(1);  // one connection attempt
  // A session known to this replica is checked against the store (and its TTL extended) at
  // most this often: the hot path stays off Redis, and a session deleted on another replica
  // is seen here within this time.
  duration cache_ttl = std::chrono::seconds(1);
};

// Replicas forwarding to each other: a request for a session whose stdio process (or legacy
// SSE backend stream) lives in another replica goes to that replica's internal listener.
struct cluster_config {
  host_port listen;       // the internal listener (plain HTTP: a private network)
  std::string advertise;  // "host:port" the other replicas reach this one at; its identity
  std::string secret_env;
  std::string secret;  // read from secret_env at start-up; every replica has the same
  duration heartbeat = std::chrono::seconds(5);  // registration refresh; TTL 3 heartbeats
};

// A header the gateway sends to a backend; the client's own credentials never reach it.
struct credential_header {
  std::string name;
  std::string value;  // ${VAR} expanded from the gateway's environment at start-up
};

// How a new session picks one of a backend's replicas (it then stays on it).
enum class balance_policy { round_robin, least_loaded, hash_tenant };

struct http_backend_config {
  std::string url;  // http:// or https://; with replicas, the first of `urls`
  // Replicas of one MCP server (http.urls): a session is pinned to the one it started on.
  // Empty: one replica, `url`.
  std::vector<std::string> urls;
  balance_policy balance = balance_policy::round_robin;
  // Replicas are probed (an HTTP GET of the URL, any status below 500 is alive) every
  // `health_interval`; `unhealthy_after` failures in a row take one out of rotation and end
  // its sessions (404, the client initializes again), one success puts it back.
  duration health_interval = std::chrono::seconds(5);
  duration health_timeout = std::chrono::seconds(2);
  std::size_t unhealthy_after = 2;
  duration timeout = std::chrono::seconds(60);  // JSON: whole response; SSE: silence between events
  duration connect_timeout = std::chrono::seconds(5);
  bool tls_verify = true;  // certificate and host name verification for https
  std::string ca_file;     // optional extra trust anchors (PEM); system store otherwise
  std::size_t max_idle_connections = 64;  // keep-alive pool bound
  // Safe methods (initialize, ping, the list methods) are sent again when the backend could
  // not be reached or answered 502/503/504: up to `retry_attempts` tries in all, waiting
  // `retry_backoff` (doubling, with jitter) in between. tools/call only with retry_tools_call.
  std::size_t retry_attempts = 2;
  duration retry_backoff = std::chrono::milliseconds(100);
  bool retry_tools_call = false;
  std::vector<credential_header> headers;  // sent on every request to the backend
  // Sent instead of a same-named static header for sessions of that tenant.
  std::vector<std::pair<std::string, std::vector<credential_header>>> tenant_headers;
};

// A stdio MCP server: one child process per client session, spawned without a shell.
struct stdio_backend_config {
  std::vector<std::string> command;  // argv; command[0] is looked up in PATH when it has no '/'
  // Added to the child's minimal environment (PATH, HOME, LANG from the gateway's), in order.
  std::vector<std::pair<std::string, std::string>> env;
  // Added after `env` for processes of a session of that tenant (such processes are spawned
  // for the session, not taken from the warm pool).
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> tenant_env;
  std::string cwd;             // empty: the gateway's working directory
  std::size_t pool_warm = 1;   // processes kept spawned (and initialized) ahead of sessions
  std::size_t pool_max = 100;  // processes of this backend, in use and warm
  duration timeout = std::chrono::seconds(60);  // longest silence while a request is in flight
  // Each step of stopping a process: stdin closed, then SIGTERM, then SIGKILL.
  duration shutdown_timeout = std::chrono::seconds(2);
};

// http: Streamable HTTP; sse: the legacy HTTP+SSE transport (2024-11-05), whose settings are
// the same as http's (the url is the SSE stream's); stdio: a child process per session.
enum class backend_kind { http, sse, stdio };

struct backend_config {
  std::string name;
  backend_kind kind = backend_kind::http;
  http_backend_config http;  // also the settings of an sse backend
  stdio_backend_config stdio;
  // /readyz answers 503 while this backend cannot be reached (HTTP: no replica passes its
  // health probe, which then runs even with one replica; stdio: its processes fail to start).
  bool required = false;
};

// Include/exclude globs for one kind of name on an aggregated route: a name is kept when some
// include glob matches it (or there are none) and no exclude glob does.
struct name_filter {
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  bool admits(std::string_view name) const;
  bool empty() const { return include.empty() && exclude.empty(); }
};

// What an aggregated route (or one backend on it) lets through. Resource globs match URIs
// (resource templates: their uriTemplate).
struct item_filters {
  name_filter tools;
  name_filter prompts;
  name_filter resources;
};

// One backend of an aggregated route and how its names appear there.
struct route_member {
  std::string backend;
  int line = 0;
  // Tool and prompt names become prefix + separator + name; resource URIs become
  // uri_prefix + "+" + uri (a scheme prefix: "files+file:///a"). An empty prefix keeps the
  // backend's names as they are.
  std::string prefix;  // default: the backend's name
  std::string separator = "__";
  std::string uri_prefix;  // the prefix in URI-scheme form: lower case, '_' as '-'
  item_filters filters;    // on the backend's own names and URIs
};

// When an aggregated session opens its session on each backend.
enum class upstream_mode {
  eager,  // at the client's initialize (its capabilities are then known exactly)
  lazy,   // at the first request that needs the backend
};

struct route_config {
  std::string path;
  std::string backend;  // a route of one backend
  int line = 0;
  // An aggregated route (backends:): one MCP server made of many; empty for one backend.
  std::vector<route_member> members;
  item_filters filters;  // on the names and URIs clients see
  upstream_mode upstream_sessions = upstream_mode::eager;
  // Per backend: the longest wait for its answer to a list request fanned out to every
  // backend, and for its initialize; one that misses it is left out of that answer.
  duration list_timeout = std::chrono::seconds(5);
  // A backend that is down (or failed its initialize) is tried again after one second, then
  // at doubling intervals up to this one; when it is back, clients get list_changed.
  duration rejoin_interval = std::chrono::seconds(30);
  bool aggregated() const { return !members.empty(); }
};

struct limits_config {
  std::size_t max_body = 4 * 1024 * 1024;              // request body; over it: 413
  std::size_t max_header = 16 * 1024;                  // request header block; over it: 431
  std::size_t max_backend_message = 16 * 1024 * 1024;  // one JSON or SSE message from a backend
  duration header_timeout = std::chrono::seconds(10);  // time to receive a request header
  duration body_timeout = std::chrono::seconds(30);    // time to receive a request body
  duration write_timeout = std::chrono::seconds(30);   // a client that does not read
  duration idle_connection_timeout = std::chrono::seconds(60);  // keep-alive between requests
  duration sse_keepalive = std::chrono::seconds(15);            // comment on idle SSE streams
  // The longest one call may take in all, progress or not (a backend's `timeout` bounds its
  // silence, which progress notifications restart).
  duration max_call_duration = std::chrono::minutes(15);
  std::size_t stream_buffer_events = 1024;  // per SSE stream kept for replay and offline delivery
  std::size_t max_connections = 10000;
};

// What a tenant may use. Each list holds globs ('*' any run of characters, '?' one); an
// empty allow list means everything, an empty deny list nothing.
struct access_rules {
  std::vector<std::string> routes;
  std::vector<std::string> backends;
  std::vector<std::string> tools;
  std::vector<std::string> prompts;
  std::vector<std::string> resources;  // resource URIs (and resource template URIs)
};

// A tool glob and the token scopes a call to a matching tool needs (all of them).
struct scope_requirement {
  std::string tools;
  std::vector<std::string> scopes;
};

struct tenant_config {
  std::string name;
  int line = 0;
  std::vector<std::string> api_key_digests;  // raw SHA-256 digests (32 bytes each)
  access_rules allow;
  access_rules deny;
  std::vector<scope_requirement> scopes;
};

class filter_factory;

// One link of the filter chain, in config order.
struct filter_entry {
  std::string name;  // the plugin's key ("auth")
  int line = 0;
  std::shared_ptr<const filter_factory> factory;
};

// Metrics, access log and W3C trace context (observability:).
struct observability_config {
  bool metrics = true;         // /metrics on the admin listener
  bool access_log = false;     // one info line per finished client request
  bool trace_generate = true;  // tracing.generate: begin a trace for requests that carry none
  bool trace_meta = true;      // tracing.meta: also send traceparent in params._meta
};

struct gateway_config {
  std::string source;  // file the config came from, for messages
  host_port listen{"127.0.0.1", 8080};
  std::optional<host_port> admin_listen;  // default 127.0.0.1:9090 when omitted
  std::optional<tls_config> tls;
  // Lower-case host names without port, IPv6 without brackets ("::1"), deduplicated; compare
  // with the host part of the Host header. Filled with defaults when omitted.
  std::vector<std::string> allowed_hosts;
  // Lower-case "scheme://host[:port]", as browsers send in the Origin header.
  std::vector<std::string> allowed_origins;  // empty: only origins whose host is allowed
  session_store_config session_store;
  std::optional<cluster_config> cluster;
  std::vector<backend_config> backends;
  std::vector<route_config> routes;
  limits_config limits;
  std::vector<tenant_config> tenants;
  std::vector<filter_entry> filters;
  duration shutdown_grace = std::chrono::seconds(10);
  // Event-loop threads, each with its own io_context, connections, backend pools and stdio
  // processes; 0 ("auto"): one per CPU the process may run on (its affinity mask).
  std::size_t workers = 1;
  std::string log_level = "info";  // debug, info, warn, error
  observability_config observability;
};

struct config_error {
  std::string file;
  int line = 0;         // 1-based; 0 when unknown (e.g. the file cannot be read)
  std::string key;      // dotted path: "backends[0].http.url"
  std::string message;  // what was expected, with the offending value

  std::string to_string() const;  // "file:line: key: message"
};

struct config_result {
  std::optional<gateway_config> config;
  std::vector<config_error> errors;  // all errors found, not only the first
};

class filter_registry;

// `filters`: the plugins whose keys may appear under `filters:` (none when null).
config_result parse_config_file(const std::string& path, const filter_registry* filters = nullptr);
config_result parse_config_text(const std::string& text, const std::string& source_name,
                                const filter_registry* filters = nullptr);

// "30m", "60s", "250ms", "1h"; nullopt when malformed.
std::optional<duration> parse_duration(std::string_view text);
// "4MiB", "512KiB", "1048576", "16k"; nullopt when malformed.
std::optional<std::size_t> parse_size(std::string_view text);
// "127.0.0.1:8080", "[::1]:8080", "localhost:0"; nullopt when malformed.
std::optional<host_port> parse_host_port(std::string_view text);
// "example.com", "127.0.0.1", "::1" or "[::1]" (no port); lower-cased, IPv6 without brackets;
// nullopt when malformed. The form allowed_hosts holds.
std::optional<std::string> parse_host(std::string_view text);
// `workers:` and --workers: "auto" (0) or 1 to max_workers; nullopt otherwise.
inline constexpr std::size_t max_workers = 256;
std::optional<std::size_t> parse_workers(std::string_view text);
// Why `config` cannot run more than one worker (yet), or null when it can. `workers: auto`
// then runs one; a number over 1 is an error.
const char* workers_refusal(const gateway_config& config);

// The kinds of scalar value gateway.yaml holds, so that every caller that reports a bad value
// (the parser, --check-config, an admin endpoint) words it the same way.
enum class value_kind {
  time_span,   // "60s"
  size,        // "4MiB"
  count,       // "1000"
  boolean,     // true or false (not yes/no/on/off)
  name,        // backend names: letters, digits, '-', '_', '.'
  host_port,   // "127.0.0.1:8080"
  host,        // "example.com", "::1"
  http_url,    // "http://127.0.0.1:3311/mcp"
  origin,      // "https://app.example.com"
  route_path,  // "/mcp"
  log_level,   // debug, info, warn, error
};

// What a well-formed value looks like: "a duration like 500ms, 60s, 30m or 1h".
std::string_view value_expectation(value_kind kind);
// Empty when text is well-formed; otherwise the message, with the reason when one is known:
// `expected a duration like 500ms, 60s, 30m or 1h, got "60" (missing unit: ms, s, m or h)`.
// Says nothing about ranges (zero, ordering): those are the parser's policy.
std::string value_error(value_kind kind, std::string_view text);
// The value as messages show it: double-quoted, escaped, long ones cut short.
std::string quote_value(std::string_view text);

}  // namespace mcpgw
