# Every dependency comes from a Debian bookworm package (see README.md).
find_package(Boost 1.81 REQUIRED COMPONENTS url)
find_package(OpenSSL 3 REQUIRED)
find_package(simdjson REQUIRED)
# simdjson turns its development checks on wherever __OPTIMIZE__ is undefined, and they add
# members to its on-demand types. A -O0 file (MCPGW_UNOPTIMIZED_TESTS) and a -O2 one would then
# disagree about the layout of any class holding a parser. One value for the whole build.
set_property(TARGET simdjson::simdjson APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS
  "SIMDJSON_DEVELOPMENT_CHECKS=$<IF:$<CONFIG:Debug>,1,0>")
find_package(yaml-cpp REQUIRED)
find_package(prometheus-cpp REQUIRED COMPONENTS core)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
# hiredis: only its RESP reader and command formatter (the I/O is the gateway's own, on Asio).
pkg_check_modules(hiredis REQUIRED IMPORTED_TARGET hiredis)

# Boost.Asio and Boost.Beast compiled once (separate compilation), not in every TU.
add_library(mcpgw_boost STATIC ${PROJECT_SOURCE_DIR}/gateway/src/boost_src.cc)
# Asio recycles the memory of coroutine frames and handlers per thread, two blocks per kind by
# default: a request crosses about twenty-five coroutines of different sizes, so with two
# slots nearly every frame went to malloc. Sixteen keep the steady state off the heap.
target_compile_definitions(mcpgw_boost PUBLIC
  BOOST_ASIO_SEPARATE_COMPILATION BOOST_BEAST_SEPARATE_COMPILATION
  BOOST_ASIO_NO_DEPRECATED BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=16)
target_link_libraries(mcpgw_boost PUBLIC Boost::headers Boost::url OpenSSL::SSL OpenSSL::Crypto
  Threads::Threads mcpgw_sanitizers)

# simdjson's on-demand API uses the SIMD kernel chosen at compile time (no runtime dispatch):
# without a target ISA it falls back to scalar code. The "westmere" kernel needs SSE4.2 and
# PCLMULQDQ (Intel since 2010, AMD since 2011): x86-64-v2 has the first but not the second, and
# without -mpclmul simdjson quietly took its scalar fallback.
set(MCPGW_SIMD_ARCH "x86-64-v2" CACHE STRING "-march for code using simdjson on-demand (empty: none)")
if(MCPGW_SIMD_ARCH AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(MCPGW_SIMD_FLAGS "-march=${MCPGW_SIMD_ARCH};-mpclmul")
endif()
