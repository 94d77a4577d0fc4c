// The principal header of forwarded requests and the secret check, without sockets.
#include "cluster/cluster.h"

#include <gtest/gtest.h>

namespace mcpgw {
namespace {

TEST(ClusterPrincipal, RoundTripsEveryFieldAndScope) {
  principal who;
  who.via = principal::method::jwt;
  who.tenant = "acme";
  who.subject = std::string("user:1\r\nInjected: yes", 22);
  who.issuer = "https://idp.example";
  who.scopes = {"tools:read", "deploy"};
  std::string header = cluster::encode_principal(who);
  EXPECT_EQ(header.find_first_not_of("0123456789abcdef"), std::string::npos)
      << "only hex: nothing in it can break the header block";
  auto back = cluster::decode_principal(header);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->same_as(who));
  EXPECT_EQ(back->scopes, who.scopes);
}

TEST(ClusterPrincipal, RefusesDamagedValues) {
  principal who;
  who.tenant = "t";
  std::string header = cluster::encode_principal(who);
  EXPECT_FALSE(cluster::decode_principal(header.substr(1)).has_value());
  EXPECT_FALSE(cluster::decode_principal(header + "0").has_value());
  EXPECT_FALSE(cluster::decode_principal("zz").has_value());
  EXPECT_FALSE(cluster::decode_principal(header.substr(0, header.size() - 2)).has_value());
  EXPECT_TRUE(cluster::decode_principal(cluster::encode_principal(principal{})).has_value());
}

TEST(ClusterToken, MatchesOnlyTheExactSecret) {
  EXPECT_TRUE(cluster::token_matches("0123456789abcdef", "0123456789abcdef"));
  EXPECT_FALSE(cluster::token_matches("0123456789abcdeX", "0123456789abcdef"));
  EXPECT_FALSE(cluster::token_matches("0123456789abcde", "0123456789abcdef"));
  EXPECT_FALSE(cluster::token_matches("0123456789abcdef0", "0123456789abcdef"));
  EXPECT_FALSE(cluster::token_matches("", "0123456789abcdef"));
}

}  // namespace
}  // namespace mcpgw
