// The replicas of one backend without I/O: which one a new session goes to (round robin,
// least loaded, or by tenant), which are alive by their health probes, and how many sessions
// each holds here. Driven by backend_group; unit-tested with no sockets.
#pragma once

#include "mcpgw/config.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw {

class replica_set {
 public:
  replica_set(std::vector<std::string> urls, balance_policy policy, std::size_t unhealthy_after);

  std::size_t size() const { return replicas_.size(); }
  const std::string& url(std::size_t i) const { return replicas_[i].url; }
  bool healthy(std::size_t i) const { return replicas_[i].healthy; }
  std::size_t sessions(std::size_t i) const { return replicas_[i].sessions; }
  std::optional<std::size_t> find(std::string_view url) const;

  // The replica for a new session of `tenant`, among the healthy ones (among all when none
  // is). hash_tenant is rendezvous hashing on a fixed hash: every gateway replica sends a
  // tenant to the same backend replica, and losing one replica moves only its tenants.
  std::size_t pick(std::string_view tenant);
  void add_session(std::size_t i) { ++replicas_[i].sessions; }
  void remove_session(std::size_t i) {
    if (replicas_[i].sessions > 0) {
      --replicas_[i].sessions;
    }
  }

  // A probe's result; true when the replica changed state (up or down).
  bool record_probe(std::size_t i, bool ok);

  // FNV-1a, 64 bits: the same on every platform and process.
  static std::uint64_t stable_hash(std::string_view a, std::string_view b);

 private:
  struct replica {
    std::string url;
    bool healthy = true;
    std::size_t failures = 0;
    std::size_t sessions = 0;
  };
  std::vector<replica> replicas_;
  balance_policy policy_;
  std::size_t unhealthy_after_;
  std::size_t next_ = 0;
};

}  // namespace mcpgw
