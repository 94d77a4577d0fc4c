// The start-up check of the instruction sets the build assumes: which feature is reported
// missing, the message, and that this machine (which runs the decoder in these tests) passes.
#include "server/cpu_features.h"

#include <gtest/gtest.h>

#include <string>

using namespace mcpgw::cpu_features;

TEST(CpuFeatures, TheBuildsRequirementsFollowItsSimdFlags) {
#if defined(MCPGW_SIMD_KERNEL_EXPECTED)
  // Built with MCPGW_SIMD_ARCH=x86-64-v2 (the default): the check is armed.
  EXPECT_EQ(required(), "sse3 ssse3 sse4.1 sse4.2 popcnt pclmul");
#else
  EXPECT_EQ(required(), "");
#endif
}

TEST(CpuFeatures, NamesTheFirstMissingFeature) {
  if (required().empty()) {
    EXPECT_EQ(first_missing([](std::string_view) { return false; }), "")
        << "a build without SIMD flags requires nothing";
    return;
  }
  EXPECT_EQ(first_missing([](std::string_view) { return true; }), "");
  EXPECT_EQ(first_missing([](std::string_view f) { return f != "pclmul"; }), "pclmul");
  EXPECT_EQ(first_missing([](std::string_view f) { return f != "pclmul" && f != "sse4.2"; }),
            "sse4.2")
      << "in the order listed";
  const std::string message = refusal("pclmul");
  EXPECT_NE(message.find("lacks pclmul"), std::string::npos) << message;
  EXPECT_NE(message.find("MCPGW_SIMD_ARCH"), std::string::npos) << message;
}

TEST(CpuFeatures, ThisMachineHasWhatTheBuildRequires) {
  EXPECT_EQ(first_missing(this_cpu_has), "");
  EXPECT_FALSE(this_cpu_has("no-such-feature"));
}
