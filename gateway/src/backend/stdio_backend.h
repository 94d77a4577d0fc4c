// A stdio MCP server seen from the gateway: one child process per client session, speaking
// newline-delimited JSON-RPC on stdin/stdout, with stderr logged line by line. The backend keeps
// a pool of warm processes (spawned, and initialized once it has seen a client's initialize),
// caps the processes it runs, and ends them as the MCP stdio transport asks: stdin closed, then
// SIGTERM, then SIGKILL. Owned by the server; sessions lease one process each.
#pragma once

#include "backend/child_process.h"
#include "backend/message_channel.h"
#include "mcpgw/config.h"
#include "mcpgw/jsonrpc.h"
#include "mcpgw/log.h"

#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw {

class stdio_backend;

class stdio_process final : public message_channel {
 public:
  stdio_process(stdio_backend& backend, std::unique_ptr<child_process> child);
  ~stdio_process() override;

  // Starts the stdout, stderr, exit and delivery loops.
  void start();
  pid_t pid() const { return pid_; }

  // Queues one JSON-RPC message for stdin (newlines inside are turned into spaces, which JSON
  // allows outside strings and forbids raw inside them). False when the process is gone or
  // stopping, or its input queue is over limits.max_backend_message (it stopped reading).
  bool send(std::string_view message) override;
  // The stdio shutdown sequence, in the background.
  void stop() override;
  std::string describe() const override { return "pid " + std::to_string(pid_); }
  // The child's exit ("exit code 3"), empty while it runs.
  const std::string& status() const { return status_; }

 private:
  friend class stdio_backend;

  std::shared_ptr<stdio_process> self() {
    return std::static_pointer_cast<stdio_process>(shared_from_this());
  }
  net::awaitable<void> read_stdout();
  net::awaitable<void> read_stderr();
  net::awaitable<void> watch_exit();
  net::awaitable<void> write_loop();
  net::awaitable<void> run_shutdown();
  // A complete stdout line: skipped, a warm-up answer, or queued for the session.
  net::awaitable<void> take_line(std::string_view line);
  void finish_if_done();
  void on_ended() override;

  stdio_backend& backend_;
  std::unique_ptr<child_process> child_;
  pid_t pid_;
  std::deque<std::string> outbox_;
  std::size_t outbox_bytes_ = 0;
  bool writing_ = false;
  bool reader_done_ = false;
  bool exited_ = false;
  bool stopping_ = false;
  bool counted_ = true;  // counts against stdio.pool.max (until it stops or ends)
  std::string status_;

  // Warm-up: the pool's initialize in flight, answered through take_line.
  std::string warmup_id_;  // raw id of the pool's initialize; empty when none is pending
  net::steady_timer warm_signal_;
};

class stdio_backend {
 public:
  stdio_backend(net::any_io_executor ex, const backend_config& config, const limits_config& limits,
                logger& log);
  ~stdio_backend();
  stdio_backend(const stdio_backend&) = delete;
  stdio_backend& operator=(const stdio_backend&) = delete;

  const std::string& name() const { return config_.name; }
  const backend_config& config() const { return config_; }
  const limits_config& limits() const { return limits_; }
  logger& log() { return log_; }
  jsonrpc::decoder& decoder() { return decoder_; }
  net::any_io_executor executor() const { return ex_; }

  // Fills the warm pool.
  void start();

  struct lease {
    std::shared_ptr<stdio_process> process;
    bool initialized = false;  // warmed with exactly the client's initialize
    bool at_capacity = false;  // stdio.pool.max reached
    std::string error;         // why there is no process
  };
  // A process for a new session whose initialize is `init_request` (with the pool's warm-up
  // id in place of the client's): a warm one initialized with the same message when there is
  // one, else a warm uninitialized one, else a fresh one. A tenant with its own environment
  // (stdio.tenant_env) always gets a fresh one, spawned with it.
  // Taking a warm process starts the pool's refill, unless `refill_now` is false: the caller
  // then calls ensure_refill() once its answer is out (spawning stalls the event loop for a
  // moment, and the session's answer should not wait behind it).
  net::awaitable<lease> acquire(std::string_view init_request, std::string_view tenant = {},
                                bool refill_now = true);
  // Starts spawning up to stdio.pool.warm processes, if not already at it.
  void ensure_refill();
  // A session initialized a cold process with `init_request`: warm processes are initialized
  // with it from now on, so the next client sending the same gets one ready.
  void learn(std::string init_request);
  // No more spawning; warm processes stop. Leased ones stop with their sessions.
  void shutdown();

  // Processes counted against stdio.pool.max: warm, leased and starting (not those stopping).
  std::size_t active() const { return active_; }
  std::size_t warm() const { return warm_.size(); }
  // Every process still running, stopping ones included (the drain waits for them).
  std::size_t running() const { return running_; }
  // Why the last process failed to start; empty once one started (/readyz reads it).
  const std::string& start_failure() const { return start_failure_; }

  // The raw id the pool uses for its own initialize.
  static constexpr std::string_view warmup_id = "\"mcpgw-warmup\"";

 private:
  friend class stdio_process;
  // `extra_env`: added after stdio.env (a tenant's variables); null for pool processes.
  net::awaitable<std::shared_ptr<stdio_process>> spawn(
      std::string& error,
      const std::vector<std::pair<std::string, std::string>>* extra_env = nullptr);
  net::awaitable<bool> warm_up(const std::shared_ptr<stdio_process>& p);
  net::awaitable<void> refill();
  // Called by a process once it has ended.
  void process_ended(stdio_process& p);
  // A process leaves the active count (stopping or ended); once only.
  void uncount(stdio_process& p);

  net::any_io_executor ex_;
  backend_config config_;
  limits_config limits_;
  logger& log_;
  jsonrpc::decoder decoder_;
  std::deque<std::shared_ptr<stdio_process>> warm_;
  std::string template_;  // the initialize warm processes get; empty until a session taught it
  std::size_t active_ = 0;
  std::size_t running_ = 0;
  std::size_t warming_ = 0;  // taken out of warm_ to be initialized with a new template
  bool refilling_ = false;
  bool shut_down_ = false;
  std::string start_failure_;
  duration backoff_{0};
  net::steady_timer refill_timer_;
};

}  // namespace mcpgw
