-- wrk script: every request is one MCP tools/call of the `echo` tool on a session that
-- run.sh has already initialised. The session id comes from the first script argument
-- (wrk ... <url> -- <session-id> [<authorization>] [<second-session-id>]) or from
-- MCP_SESSION_ID. With a second session id, requests name the two sessions in turn
-- (workers.sh: connections that move between workers).
--
-- Every request has an id of its own: MCP forbids reusing an id within a session while a
-- request with it is in flight, and the gateway refuses such a request (it could not tell the
-- two answers apart). That puts Lua on the hot path (request() per request), the same for
-- every target. response() counts JSON-RPC error answers, which are HTTP 200: a target that
-- answers errors fast must not look fast.

local prefix = '{"jsonrpc":"2.0","id":'
local suffix = ',"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello from wrk"}}}'
local threads = {}
local next_id = 0
local sessions = nil
local rpc_errors = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local session = args[1] or os.getenv("MCP_SESSION_ID")
  if session == nil or session == "" then
    error("tools_call.lua: pass the session id as `-- <id>` or in MCP_SESSION_ID")
  end
  -- ids of different wrk threads never meet: thread n counts n, n + 1000000000, ...
  next_id = id * 1000000000
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["Mcp-Session-Id"] = session
  wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
  -- The second argument, when not empty, is the Authorization header (the auth filter's row).
  if args[2] ~= nil and args[2] ~= "" then
    wrk.headers["Authorization"] = args[2]
  end
  if args[3] ~= nil and args[3] ~= "" then
    sessions = { session, args[3] }
  end
end

function request()
  next_id = next_id + 1
  if sessions then
    wrk.headers["Mcp-Session-Id"] = sessions[next_id % 2 + 1]
  end
  return wrk.format(nil, nil, nil, prefix .. next_id .. suffix)
end

function response(status, headers, body)
  if status == 200 and not string.find(body, '"result"', 1, true) then
    rpc_errors = rpc_errors + 1
  end
end

-- One machine-readable line for run.sh; latencies are in microseconds.
function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local errors_rpc = 0
  for _, thread in ipairs(threads) do
    errors_rpc = errors_rpc + (thread:get("rpc_errors") or 0)
  end
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d"
      .. " errors_connect=%d errors_read=%d errors_write=%d errors_status=%d"
      .. " errors_timeout=%d errors_rpc=%d\n",
    summary.requests, summary.duration, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, errors_rpc))
end
