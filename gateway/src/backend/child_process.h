// A child process with its stdin, stdout and stderr on non-blocking pipes, spawned without a
// shell, in a process group of its own, set to die with the gateway (parent-death signal), and
// reaped through a pidfd. Used by the stdio backend; knows nothing of MCP.
#pragma once

#include "mcpgw/config.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace mcpgw {

namespace net = boost::asio;

struct spawn_spec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH (the child's) without a '/'
  std::vector<std::string> env;   // "NAME=value": the child's whole environment
  std::string cwd;                // empty: the gateway's
};

class child_process {
 public:
  // Spawns the program; on failure returns null and sets `error` (exec errors included, such
  // as a missing program, since the child reports them back before it is considered started).
  static net::awaitable<std::unique_ptr<child_process>> spawn(net::any_io_executor ex,
                                                              const spawn_spec& spec,
                                                              std::string& error);
  ~child_process();  // kills the group (SIGKILL) and reaps if it is still running
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  net::posix::stream_descriptor& stdin_pipe() { return in_; }
  net::posix::stream_descriptor& stdout_pipe() { return out_; }
  net::posix::stream_descriptor& stderr_pipe() { return err_; }

  void close_stdin();
  // Sends a signal to the child's process group (its own children too).
  void signal(int signo);
  bool exited() const { return status_.has_value(); }
  // "exit code 3", "killed by signal 9 (SIGKILL)"; empty while running.
  std::string exit_description() const;
  // Waits until the child has exited and is reaped.
  net::awaitable<void> wait_exit();
  // Waits up to `timeout` for the exit; true when it exited.
  net::awaitable<bool> wait_exit_for(duration timeout);
  // The MCP stdio shutdown: stdin closed, then SIGTERM, then SIGKILL, each step waiting up to
  // `step` for the exit. Returns once the child is reaped.
  net::awaitable<void> terminate(duration step);

 private:
  child_process(net::any_io_executor ex, pid_t pid, int in, int out, int err, int pidfd);
  bool try_reap();

  net::any_io_executor ex_;
  pid_t pid_;
  net::posix::stream_descriptor in_;
  net::posix::stream_descriptor out_;
  net::posix::stream_descriptor err_;
  std::optional<net::posix::stream_descriptor> pidfd_;  // readable once the child exits
  std::optional<int> status_;                           // waitpid status once reaped
};

// The environment of a stdio child: PATH, HOME and LANG from the gateway's own (when set), then
// the configured variables (which may override them). Nothing else of the gateway's leaks.
std::vector<std::string> minimal_environment(
    const std::vector<std::pair<std::string, std::string>>& configured);

// Between clone() and exec(): closes every descriptor from 3 up except `keep`, with
// close_range (Linux 5.9) when `use_close_range` and the kernel allows it, else (older
// kernels, seccomp) one close() per descriptor up to `highest`. System calls only.
void close_inherited(unsigned keep, unsigned highest, bool use_close_range);
// The highest descriptor open in this process (from /proc/self/fd; without /proc,
// descriptor_ceiling()). Where close_inherited stops without close_range.
unsigned highest_open_fd();
// The soft RLIMIT_NOFILE less one (at least 2, at most 65535): no descriptor is above it
// unless the limit was lowered after it was opened.
unsigned descriptor_ceiling();

}  // namespace mcpgw
