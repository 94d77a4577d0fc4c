// Runs a test body as a coroutine on a fresh io_context until it is done; rethrows what it
// throws (so a failed assertion inside a coroutine still fails the test).
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>

namespace mcpgw::testing {

template <typename F>
void co_run(F body) {
  boost::asio::io_context ioc;
  std::exception_ptr failure;
  boost::asio::co_spawn(ioc, body(ioc.get_executor()), [&](std::exception_ptr e) { failure = e; });
  ioc.run();
  if (failure) {
    std::rethrow_exception(failure);
  }
}

}  // namespace mcpgw::testing
