// A backend with one or more replicas (http.urls): a connection pool per replica, the choice
// of replica for each new session, and health probes that take dead replicas out of
// rotation. Owned by the server; routes and sessions borrow it.
#pragma once

#include "backend/http_backend.h"
#include "backend/replica_set.h"

#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <vector>

namespace mcpgw {

class backend_group {
 public:
  backend_group(net::any_io_executor ex, const backend_config& config, const limits_config& limits,
                logger& log);
  ~backend_group();

  const std::string& name() const { return config_.name; }
  std::size_t size() const { return replicas_.size(); }
  http_backend& replica(std::size_t i) { return *replicas_[i]; }
  replica_set& replicas() { return *set_; }
  const replica_set& replicas() const { return *set_; }
  // Shared with the sessions pinned to a replica, which may outlive the group at shutdown.
  const std::shared_ptr<replica_set>& shared_replicas() const { return set_; }

  // Starts the health probes (with more than one replica, or when the backend is required);
  // stop() ends them.
  void start();
  void stop();
  // Probes still running (the server waits for them before it stops).
  std::size_t running() const { return running_; }

 private:
  net::awaitable<void> probe_loop(std::size_t i);

  net::any_io_executor ex_;
  backend_config config_;
  logger& log_;
  std::vector<std::unique_ptr<http_backend>> replicas_;
  std::vector<std::unique_ptr<http_backend>> probes_;  // short deadlines, no retries
  std::shared_ptr<replica_set> set_;
  std::vector<std::unique_ptr<net::steady_timer>> timers_;
  bool stopped_ = false;
  std::size_t running_ = 0;
};

}  // namespace mcpgw
