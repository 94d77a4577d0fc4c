// Choosing a backend replica for a new session, and health probe bookkeeping.
#include "backend/replica_set.h"

#include <gtest/gtest.h>

#include <map>

namespace mcpgw {
namespace {

std::vector<std::string> three() {
  return {"http://10.0.0.1:3000/mcp", "http://10.0.0.2:3000/mcp", "http://10.0.0.3:3000/mcp"};
}

TEST(ReplicaSet, RoundRobinCyclesThroughHealthyReplicas) {
  replica_set set(three(), balance_policy::round_robin, 2);
  EXPECT_EQ(set.pick(""), 0U);
  EXPECT_EQ(set.pick(""), 1U);
  EXPECT_EQ(set.pick(""), 2U);
  EXPECT_EQ(set.pick(""), 0U);
  set.record_probe(1, false);
  EXPECT_TRUE(set.healthy(1));  // one failure is not enough
  EXPECT_TRUE(set.record_probe(1, false));
  EXPECT_FALSE(set.healthy(1));
  std::map<std::size_t, int> picked;
  for (int i = 0; i < 6; ++i) {
    ++picked[set.pick("")];
  }
  EXPECT_EQ(picked[1], 0);
  EXPECT_EQ(picked[0], 3);
  EXPECT_EQ(picked[2], 3);
  EXPECT_TRUE(set.record_probe(1, true));  // one success puts it back
  EXPECT_TRUE(set.healthy(1));
  EXPECT_FALSE(set.record_probe(1, true));
}

TEST(ReplicaSet, WithEveryReplicaDownItStillPicksOne) {
  replica_set set(three(), balance_policy::round_robin, 1);
  for (std::size_t i = 0; i < 3; ++i) {
    set.record_probe(i, false);
  }
  // The backend's own error then reaches the client, naming it.
  EXPECT_LT(set.pick(""), 3U);
}

TEST(ReplicaSet, LeastLoadedPicksTheReplicaWithFewestSessions) {
  replica_set set(three(), balance_policy::least_loaded, 2);
  set.add_session(0);
  set.add_session(0);
  set.add_session(1);
  EXPECT_EQ(set.pick(""), 2U);
  set.add_session(2);
  set.add_session(2);
  EXPECT_EQ(set.pick(""), 1U);
  set.remove_session(0);
  set.remove_session(0);
  EXPECT_EQ(set.pick(""), 0U);
  set.remove_session(0);  // never below zero
  EXPECT_EQ(set.sessions(0), 0U);
}

TEST(ReplicaSet, HashTenantIsStableAndMovesOnlyTheDeadReplicasTenants) {
  replica_set a(three(), balance_policy::hash_tenant, 1);
  replica_set b(three(), balance_policy::hash_tenant, 1);
  std::map<std::string, std::size_t> home;
  std::map<std::size_t, int> spread;
  for (int t = 0; t < 300; ++t) {
    std::string tenant = "tenant-" + std::to_string(t);
    home[tenant] = a.pick(tenant);
    EXPECT_EQ(b.pick(tenant), home[tenant]);  // every gateway replica agrees
    EXPECT_EQ(a.pick(tenant), home[tenant]);  // and keeps agreeing
    ++spread[home[tenant]];
  }
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_GT(spread[i], 60) << i;
  }
  a.record_probe(1, false);
  for (const auto& [tenant, replica] : home) {
    std::size_t now = a.pick(tenant);
    if (replica != 1) {
      EXPECT_EQ(now, replica) << tenant;
    } else {
      EXPECT_NE(now, 1U) << tenant;
    }
  }
}

TEST(ReplicaSet, FindsAReplicaByUrl) {
  replica_set set(three(), balance_policy::round_robin, 2);
  EXPECT_EQ(set.find("http://10.0.0.2:3000/mcp"), 1U);
  EXPECT_FALSE(set.find("http://10.0.0.9:3000/mcp").has_value());
}

TEST(ReplicaSet, StableHashIsFnv1a) {
  // The value is part of the contract between gateway replicas of different builds.
  EXPECT_EQ(replica_set::stable_hash("", ""), 0xaf63c74c8601c8ddULL);
}

}  // namespace
}  // namespace mcpgw
