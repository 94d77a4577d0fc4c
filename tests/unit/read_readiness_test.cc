// read_readiness against real loopback sockets: a read that finds nothing waits for the
// peer's bytes, a short read marks the socket drained and an edge marks it readable again, an
// end and a reset are reported, a waiting read is cancelled, removed or timed out, many
// sockets woken by one epoll_wait all resume, and reads still waiting when their slot or the
// io_context ends are dropped without leaking their coroutines or keeping run() busy.
#include "http/read_readiness.h"

#include "co_run.h"
#include "loopback_pair.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using namespace mcpgw;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr auto no_deadline = std::chrono::steady_clock::time_point::max();

asio::awaitable<void> pause(asio::any_io_executor ex, std::chrono::milliseconds d) {
  asio::steady_timer t(ex, d);
  co_await t.async_wait(tuple_awaitable);
}

// Runs `fn` after `delay`, while the test's coroutine waits.
void later(const asio::any_io_executor& ex, std::chrono::milliseconds delay,
           std::function<void()> fn) {
  auto timer = std::make_shared<asio::steady_timer>(ex, delay);
  timer->async_wait([timer, fn = std::move(fn)](boost::system::error_code) { fn(); });
}

// A loopback pair whose accepted side is watched by the io_context's set. Its end closes the
// sockets (which takes them out of the set), then drops a read still waiting.
struct watched {
  explicit watched(mcpgw::testing::socket_pair p, read_readiness& r) : set(r), pair(std::move(p)) {}

  int fd() const { return const_cast<watched*>(this)->pair.server.native_handle(); }
  void send(std::string_view data) { asio::write(pair.client, asio::buffer(data)); }
  // One read_readiness::read of at most `size` bytes (they go to `got`).
  std::ptrdiff_t read_now(std::size_t size, boost::system::error_code& ec) {
    got.resize(size);
    const auto n = read_readiness::read(slot, fd(), got.data(), size, ec);
    got.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return n;
  }
  // Reads once as the server does: at once when readable, else after a wait.
  asio::awaitable<std::string> read_once(
      boost::system::error_code& ec, std::chrono::steady_clock::time_point deadline = no_deadline) {
    for (;;) {
      if (read_now(64, ec) >= 0 || ec) {
        co_return got;
      }
      auto [wec] = co_await set.async_wait(slot, deadline, tuple_awaitable);
      if (wec) {
        ec = wec;
        co_return std::string();
      }
    }
  }

  read_readiness& set;
  read_readiness::slot slot;  // goes after the sockets closed, as the set wants
  mcpgw::testing::socket_pair pair;
  std::string got;
};

asio::awaitable<std::unique_ptr<watched>> watch(asio::any_io_executor ex) {
  auto w =
      std::make_unique<watched>(co_await mcpgw::testing::connect_pair(ex), read_readiness::of(ex));
  EXPECT_TRUE(w->set.add(w->slot, w->fd()));
  co_return w;
}

TEST(ReadReadiness, ReadWaitsForTheBytesAndAShortReadMarksTheSocketDrained) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto w = co_await watch(ex);
    EXPECT_TRUE(w->slot.watched);
    // Nothing sent yet: the first read finds nothing and marks the socket drained.
    boost::system::error_code ec;
    EXPECT_EQ(w->read_now(8, ec), -1);
    EXPECT_FALSE(ec);
    EXPECT_FALSE(w->slot.readable);
    // A drained socket is not read again: no system call until it signals.
    EXPECT_EQ(w->read_now(8, ec), -1);
    later(ex, 30ms, [&] { w->send("hello"); });
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(co_await w->read_once(ec), "hello");
    EXPECT_FALSE(ec);
    EXPECT_GE(std::chrono::steady_clock::now() - started, 25ms);
    EXPECT_FALSE(w->slot.readable);  // 5 of 64 bytes: short, so drained
    // The next bytes are read after their edge.
    w->send("again");
    EXPECT_EQ(co_await w->read_once(ec), "again");
    w->set.remove(w->slot, w->fd());
    EXPECT_FALSE(w->slot.watched);
  });
}

TEST(ReadReadiness, AFullReadLeavesTheSocketReadable) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto w = co_await watch(ex);
    w->send("0123456789");
    co_await pause(ex, 10ms);
    boost::system::error_code ec;
    EXPECT_EQ(w->read_now(4, ec), 4);
    EXPECT_TRUE(w->slot.readable);  // the buffer filled: there may be more
    EXPECT_EQ(w->read_now(4, ec), 4);
    EXPECT_EQ(w->read_now(4, ec), 2);
    EXPECT_EQ(w->got, "89");
    EXPECT_FALSE(w->slot.readable);
  });
}

TEST(ReadReadiness, TheEndAndAResetAreReported) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto w = co_await watch(ex);
    boost::system::error_code ec;
    EXPECT_EQ(w->read_now(8, ec), -1);  // drained
    later(ex, 20ms, [&] { w->pair.client.shutdown(asio::ip::tcp::socket::shutdown_send); });
    EXPECT_EQ(co_await w->read_once(ec), "");
    EXPECT_FALSE(ec);
    EXPECT_EQ(w->read_now(8, ec), 0);  // the end stays readable

    auto reset = co_await watch(ex);
    EXPECT_EQ(reset->read_now(8, ec), -1);
    // SO_LINGER 0: the close sends a reset.
    reset->pair.client.set_option(asio::socket_base::linger(true, 0));
    later(ex, 20ms, [&] { reset->pair.client.close(); });
    co_await reset->read_once(ec);
    EXPECT_EQ(ec, boost::system::error_code(ECONNRESET, boost::system::system_category()))
        << ec.message();
  });
}

TEST(ReadReadiness, AWaitingReadIsCancelledOrRemoved) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto w = co_await watch(ex);
    boost::system::error_code ec;
    later(ex, 20ms, [&] { w->set.cancel(w->slot); });
    co_await w->read_once(ec);
    EXPECT_EQ(ec, asio::error::operation_aborted);
    // The socket is still watched: bytes after the cancel are read.
    w->send("x");
    EXPECT_EQ(co_await w->read_once(ec), "x");
    later(ex, 20ms, [&] { w->set.remove(w->slot, w->fd()); });
    co_await w->read_once(ec);
    EXPECT_EQ(ec, asio::error::operation_aborted);
    EXPECT_FALSE(w->slot.watched);
    // Cancelling or removing what does not wait, or is not watched, does nothing.
    w->set.cancel(w->slot);
    w->set.remove(w->slot, w->fd());
    EXPECT_FALSE(w->slot.watched);
  });
}

TEST(ReadReadiness, EverySocketThatBecameReadableResumesPastOneBatchOfEvents) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    constexpr int count = 300;  // more than one epoll_wait batch (256) at once
    std::vector<std::unique_ptr<watched>> all;
    for (int i = 0; i < count; ++i) {
      all.push_back(co_await watch(ex));
    }
    int done = 0;
    for (int i = 0; i < count; ++i) {
      asio::co_spawn(
          ex,
          [&, i]() -> asio::awaitable<void> {
            boost::system::error_code ec;
            EXPECT_EQ(co_await all[i]->read_once(ec), std::to_string(i));
            EXPECT_FALSE(ec);
            ++done;
          },
          asio::detached);
    }
    co_await pause(ex, 10ms);
    EXPECT_EQ(done, 0);
    for (int i = 0; i < count; ++i) {
      all[i]->send(std::to_string(i));
    }
    co_await pause(ex, 20ms);  // all of them readable before the set is looked at
    for (int i = 0; i < 200 && done < count; ++i) {
      co_await pause(ex, 5ms);
    }
    EXPECT_EQ(done, count);
  });
}

TEST(ReadReadiness, ReadsThatNeverWaitStillLetOtherWorkRun) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto w = co_await watch(ex);
    // 64 KiB waiting, read 512 bytes at a time: every read is full, so the socket stays
    // readable and no read ever waits.
    w->send(std::string(64 * 1024, 'x'));
    co_await pause(ex, 20ms);
    int ticks = 0;
    bool stop = false;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          while (!stop) {
            ++ticks;
            co_await asio::post(ex, asio::use_awaitable);
          }
        },
        asio::detached);
    boost::beast::flat_buffer buffer(512);
    constexpr int reads = 64;
    for (int i = 0; i < reads; ++i) {
      const auto ec = co_await w->set.read_some(w->slot, w->fd(), buffer);
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(buffer.size(), 512U);
      buffer.consume(buffer.size());
    }
    stop = true;
    // One turn for the others every max_unwaited_reads reads (none at all before).
    static_assert(reads >= 3 * static_cast<int>(read_readiness::max_unwaited_reads));
    EXPECT_GE(ticks, 2);
  });
}

TEST(ReadReadiness, AWaitEndsWithATimeoutAtItsDeadlineAndNotBefore) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto late = co_await watch(ex);
    auto soon = co_await watch(ex);
    auto served = co_await watch(ex);
    const auto start = std::chrono::steady_clock::now();
    struct outcome {
      boost::system::error_code ec;
      std::chrono::steady_clock::duration took{};
    };
    outcome late_out, soon_out, served_out;
    int done = 0;
    auto wait = [&](watched& w, std::chrono::milliseconds after,
                    outcome& out) -> asio::awaitable<void> {
      co_await w.read_once(out.ec, start + after);
      out.took = std::chrono::steady_clock::now() - start;
      ++done;
    };
    // The later deadline is set first: the timer must move to the earlier one.
    asio::co_spawn(ex, wait(*late, 1000ms, late_out), asio::detached);
    asio::co_spawn(ex, wait(*soon, 40ms, soon_out), asio::detached);
    asio::co_spawn(ex, wait(*served, 5000ms, served_out), asio::detached);
    co_await pause(ex, 10ms);
    served->send("in time");
    for (int i = 0; i < 400 && done < 3; ++i) {
      co_await pause(ex, 5ms);
    }
    EXPECT_EQ(done, 3);
    EXPECT_EQ(served_out.ec, boost::system::error_code{});  // its bytes came before its deadline
    EXPECT_EQ(served->got, "in time");
    EXPECT_EQ(soon_out.ec, boost::beast::error::timeout);
    EXPECT_GE(soon_out.took, 40ms);
    EXPECT_LT(soon_out.took, 800ms);  // not at the later deadline the timer was set for first
    EXPECT_EQ(late_out.ec, boost::beast::error::timeout);
    EXPECT_GE(late_out.took, 1000ms);
    EXPECT_LT(served_out.took, 4000ms);
  });
}

TEST(ReadReadiness, NoTimerOrWaitIsLeftPendingOnceNoReadWaits) {
  // A read with a far deadline served by its bytes, and one cancelled: neither leaves work
  // that would keep io_context::run from returning.
  const auto start = std::chrono::steady_clock::now();
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto w = co_await watch(ex);
    boost::system::error_code ec;
    later(ex, 10ms, [&] { w->send("x"); });
    EXPECT_EQ(co_await w->read_once(ec, std::chrono::steady_clock::now() + 20s), "x");
    EXPECT_FALSE(ec);
    later(ex, 10ms, [&] { w->set.cancel(w->slot); });
    co_await w->read_once(ec);
    EXPECT_EQ(ec, asio::error::operation_aborted);
  });
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(ReadReadiness, ASlotDestroyedWhileAReadWaitsDropsTheReadUnresumed) {
  mcpgw::testing::co_run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto w = co_await watch(ex);
    auto held = std::make_shared<int>(0);  // a copy lives in the waiting coroutine's frame
    bool resumed = false;
    asio::co_spawn(
        ex,
        [&, copy = held]() -> asio::awaitable<void> {
          boost::system::error_code ec;
          co_await w->read_once(ec);
          resumed = true;
        },
        asio::detached);
    co_await pause(ex, 10ms);
    EXPECT_EQ(held.use_count(), 2);
    w->pair.server.close();  // as a connection ends: the socket first, then the slot
    w.reset();
    co_await pause(ex, 10ms);
    EXPECT_FALSE(resumed);
    EXPECT_EQ(held.use_count(), 1);  // the frame is gone, not leaked
  });
}

TEST(ReadReadiness, TheIoContextsEndDropsTheReadsStillWaiting) {
  auto held = std::make_shared<int>(0);
  bool waiting = false;
  bool resumed = false;
  {
    asio::io_context ioc;
    // The slot lives in the coroutine, as a backend connection does in its exchange.
    asio::co_spawn(
        ioc,
        [&, copy = held]() -> asio::awaitable<void> {
          auto w = co_await watch(co_await asio::this_coro::executor);
          boost::system::error_code ec;
          waiting = true;
          co_await w->read_once(ec);
          resumed = true;
        },
        asio::detached);
    for (int i = 0; i < 100 && !waiting; ++i) {
      ioc.run_for(10ms);
    }
    ioc.run_for(20ms);
    ASSERT_TRUE(waiting);
    EXPECT_EQ(held.use_count(), 2);
  }
  EXPECT_FALSE(resumed);
  EXPECT_EQ(held.use_count(), 1);
}

TEST(ReadReadiness, ASocketTheKernelCannotWatchIsRefused) {
  asio::io_context ioc;
  read_readiness::slot s;
  EXPECT_FALSE(read_readiness::of(ioc.get_executor()).add(s, -1));
  EXPECT_FALSE(s.watched);
}

}  // namespace
