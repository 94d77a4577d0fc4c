-- wrk script: every request is one MCP tools/call of the `echo` tool on a session that
-- run.sh has already initialised. The session id comes from the first script argument
-- (wrk ... <url> -- <session-id>) or from MCP_SESSION_ID.
--
-- No request() or response() function on purpose: wrk then builds the request once per
-- thread and never enters Lua on the hot path, so the load generator stays cheap.

local body = '{"jsonrpc":"2.0","id":1,"method":"tools/call",'
  .. '"params":{"name":"echo","arguments":{"text":"hello from wrk"}}}'

function init(args)
  local session = args[1] or os.getenv("MCP_SESSION_ID")
  if session == nil or session == "" then
    error("tools_call.lua: pass the session id as `-- <id>` or in MCP_SESSION_ID")
  end
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["Mcp-Session-Id"] = session
  wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
end

-- One machine-readable line for run.sh; latencies are in microseconds.
function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d"
      .. " errors_connect=%d errors_read=%d errors_write=%d errors_status=%d"
      .. " errors_timeout=%d\n",
    summary.requests, summary.duration, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
