// Compiled without MCPGW_SIMD_FLAGS, like main.cc: nothing here may use the instructions it
// checks for.
#include "server/cpu_features.h"

namespace mcpgw::cpu_features {

std::string_view required() {
#if defined(MCPGW_SIMD_REQUIRES_V2) && (defined(__x86_64__) || defined(__i386__))
  return "sse3 ssse3 sse4.1 sse4.2 popcnt pclmul";
#else
  return {};
#endif
}

std::string first_missing(const std::function<bool(std::string_view)>& has) {
  std::string_view list = required();
  while (!list.empty()) {
    const std::size_t space = list.find(' ');
    const std::string_view feature = list.substr(0, space);
    list = space == std::string_view::npos ? std::string_view() : list.substr(space + 1);
    if (!has(feature)) {
      return std::string(feature);
    }
  }
  return {};
}

bool this_cpu_has(std::string_view feature) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // __builtin_cpu_supports takes a literal only.
  if (feature == "sse3") {
    return __builtin_cpu_supports("sse3");
  }
  if (feature == "ssse3") {
    return __builtin_cpu_supports("ssse3");
  }
  if (feature == "sse4.1") {
    return __builtin_cpu_supports("sse4.1");
  }
  if (feature == "sse4.2") {
    return __builtin_cpu_supports("sse4.2");
  }
  if (feature == "popcnt") {
    return __builtin_cpu_supports("popcnt");
  }
  if (feature == "pclmul") {
    return __builtin_cpu_supports("pclmul");
  }
#endif
  return false;
}

std::string refusal(std::string_view missing) {
  return "this CPU lacks " + std::string(missing) + ", which this build of mcpgw requires (" +
         std::string(required()) +
         ", from MCPGW_SIMD_ARCH=x86-64-v2); rebuild with -DMCPGW_SIMD_ARCH= for any x86-64 CPU";
}

}  // namespace mcpgw::cpu_features
