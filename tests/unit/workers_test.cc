#include "server/workers.h"

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <string>

using namespace mcpgw;

TEST(Workers, OwnerIsTheFnv1aOfTheIdModTheCount) {
  // The values tests/integration/workers.test.mjs computes on its own.
  const std::string id = "0123456789abcdef0123456789abcdef";
  EXPECT_EQ(workers::owner_of(id, 2), 1u);
  EXPECT_EQ(workers::owner_of(id, 3), 0u);
  EXPECT_EQ(workers::owner_of(id, 7), 3u);
  EXPECT_EQ(workers::owner_of("", 7), 2u);
  EXPECT_EQ(workers::owner_of(id, 1), 0u);
  EXPECT_EQ(workers::owner_of(id, 0), 0u) << "no workers configured: the only one";
}

TEST(Workers, RandomIdsSpreadOverTheWorkers) {
  std::mt19937_64 rng(7);
  std::array<int, 4> seen{};
  for (int i = 0; i < 4000; ++i) {
    std::string id;
    for (int j = 0; j < 32; ++j) {
      id.push_back("0123456789abcdef"[rng() % 16]);
    }
    ++seen.at(workers::owner_of(id, seen.size()));
  }
  for (int n : seen) {
    EXPECT_GT(n, 850);  // 1000 expected each; 850 is over 5 standard deviations below
  }
}
