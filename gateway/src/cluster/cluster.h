// Replicas of the gateway that reach each other: each registers its advertised address in
// Redis with a heartbeat TTL, and a request for a session whose process lives in another
// replica is forwarded to that replica's internal listener, with the caller's principal and
// the shared secret in headers. Owned by the server; the endpoint forwards through it.
#pragma once

#include "backend/http_backend.h"
#include "mcpgw/config.h"
#include "mcpgw/filter.h"
#include "mcpgw/log.h"

#include <boost/asio/steady_timer.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgw {

class redis_client;

namespace cluster {

inline constexpr std::string_view token_header = "mcpgw-cluster-token";
inline constexpr std::string_view principal_header = "mcpgw-principal";

// The principal as a header value (hex of length-prefixed fields: no byte of it needs
// escaping), and back; nullopt when damaged.
std::string encode_principal(const principal& who);
std::optional<principal> decode_principal(std::string_view text);
// Constant time in the length of `secret`.
bool token_matches(std::string_view given, std::string_view secret);

enum class owner_state { alive, gone, unknown };

class peers {
 public:
  peers(net::any_io_executor ex, const gateway_config& config, std::shared_ptr<redis_client> redis,
        logger& log);
  ~peers();

  // This replica's identity: its advertised host:port.
  const std::string& self() const { return config_.advertise; }
  const cluster_config& config() const { return config_; }

  // Starts the heartbeat; stop() ends it (and removes the registration).
  void start();
  void stop();
  std::size_t running() const { return running_; }

  // Whether `owner` has registered within its TTL (unknown: Redis did not answer).
  net::awaitable<owner_state> state_of(std::string_view owner);
  // The connection pool to `owner`'s internal listener.
  http_backend& peer(const std::string& owner);
  // The header lines a forwarded request carries.
  std::string forwarding_headers(const principal& who) const;

 private:
  net::awaitable<void> heartbeat();
  std::string key(std::string_view replica) const;

  net::any_io_executor ex_;
  cluster_config config_;
  const gateway_config& gateway_;
  std::shared_ptr<redis_client> redis_;
  logger& log_;
  net::steady_timer timer_;
  std::map<std::string, std::unique_ptr<http_backend>, std::less<>> peers_;
  bool stopped_ = false;
  std::size_t running_ = 0;
  bool registered_ = false;
};

}  // namespace cluster
}  // namespace mcpgw
