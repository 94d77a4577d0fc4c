// The instruction sets the build assumed (MCPGW_SIMD_ARCH: the JSON decoder is compiled for
// x86-64-v2 with PCLMULQDQ), checked at start-up before any of that code runs: an older CPU
// gets a message naming what it lacks instead of SIGILL at the first request.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace mcpgw::cpu_features {

// The features the build requires, in the names GCC's __builtin_cpu_supports uses; empty
// when it requires none beyond the target's baseline.
std::string_view required();

// The first required feature `has` says the CPU lacks, or "" when none is missing.
std::string first_missing(const std::function<bool(std::string_view)>& has);

// The running CPU, through __builtin_cpu_supports.
bool this_cpu_has(std::string_view feature);

// The start-up error for `missing`: the feature, the build setting and the way out.
std::string refusal(std::string_view missing);

}  // namespace mcpgw::cpu_features
