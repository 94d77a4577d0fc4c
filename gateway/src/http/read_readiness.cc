#include "http/read_readiness.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/read_size.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <system_error>

namespace mcpgw {

namespace {

int make_set() {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_create1 for read readiness");
  }
  return fd;
}

}  // namespace

net::execution_context::id read_readiness::id;

read_readiness& read_readiness::of(const net::any_io_executor& ex) {
  return net::use_service<read_readiness>(
      static_cast<net::io_context&>(net::query(ex, net::execution::context)));
}

read_readiness::read_readiness(net::execution_context& owner)
    : net::execution_context::service(owner),
      ex_(static_cast<net::io_context&>(owner).get_executor()),
      set_(ex_, make_set()),
      timer_(ex_) {}

read_readiness::~read_readiness() = default;

void read_readiness::shutdown() {
  while (!waiting_.empty()) {
    take(*waiting_.back());  // the coroutine's frames go through its executor, not resumed
  }
  boost::system::error_code ignored;
  timer_.cancel();
  set_.close(ignored);
}

read_readiness::slot::~slot() {
  if (waiter && owner != nullptr) {
    owner->take(*this);
  }
}

bool read_readiness::add(slot& s, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &s;
  if (::epoll_ctl(set_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return false;
  }
  s.owner = this;
  s.watched = true;
  s.readable = true;
  return true;
}

void read_readiness::remove(slot& s, int fd) {
  if (!s.watched) {
    return;
  }
  if (fd >= 0) {
    epoll_event ev{};
    ::epoll_ctl(set_.native_handle(), EPOLL_CTL_DEL, fd, &ev);
  }
  s.watched = false;
  cancel(s);
}

void read_readiness::cancel(slot& s) {
  if (s.waiter) {
    complete(s, net::error::operation_aborted);
  }
}

std::unique_ptr<read_readiness::waiter> read_readiness::take(slot& s) {
  waiting_[s.waiting_index] = waiting_.back();
  waiting_[s.waiting_index]->waiting_index = s.waiting_index;
  waiting_.pop_back();
  if (s.deadline != std::chrono::steady_clock::time_point::max()) {
    s.deadline = std::chrono::steady_clock::time_point::max();
    if (--timed_ == 0 && timer_waiting_) {
      timer_.cancel();  // nothing left to time: no pending timer keeps the io_context running
    }
  }
  if (waiting_.empty() && armed_) {
    set_.cancel();  // likewise for the set's wait (it ends aborted; on_ready re-arms if needed)
  }
  return std::move(s.waiter);
}

void read_readiness::complete(slot& s, boost::system::error_code ec) {
  // Posted, not called: the canceller may be walking a list that the resumed read would change.
  net::post(ex_, [w = take(s), ec] { w->complete(ec); });
}

void read_readiness::move_timer(std::chrono::steady_clock::time_point at) {
  timer_at_ = at;
  timer_.expires_at(at);  // a wait in progress ends (aborted) and waits again
  wait_timer();
}

void read_readiness::wait_timer() {
  if (timer_waiting_) {
    return;
  }
  timer_waiting_ = true;
  // Aborted when moved earlier (on_timer then waits for the new time) or when no read waits
  // with a deadline any more.
  timer_.async_wait([this](boost::system::error_code) {
    timer_waiting_ = false;
    if (timed_ == 0) {
      timer_at_ = std::chrono::steady_clock::time_point::max();
    } else if (set_.is_open()) {  // not shut down
      on_timer();
    }
  });
}

void read_readiness::on_timer() {
  const auto now = std::chrono::steady_clock::now();
  if (now < timer_.expiry()) {
    wait_timer();  // moved earlier while waiting (or woken early): waits for the new time
    return;
  }
  // Reads past their deadline end with a timeout; the timer moves to the next deadline.
  auto next = std::chrono::steady_clock::time_point::max();
  for (std::size_t i = 0; i < waiting_.size();) {
    slot& s = *waiting_[i];
    if (s.deadline <= now) {
      complete(s, boost::beast::error::timeout);  // moves the last entry to i
    } else {
      next = std::min(next, s.deadline);
      ++i;
    }
  }
  timer_at_ = std::chrono::steady_clock::time_point::max();
  if (next != timer_at_) {
    move_timer(next);
  }
}

std::ptrdiff_t read_readiness::read(slot& s, int fd, void* data, std::size_t size,
                                    boost::system::error_code& ec) {
  ec = {};
  if (!s.readable) {
    return -1;
  }
  for (;;) {
    const ssize_t n = ::recv(fd, data, size, MSG_DONTWAIT);
    if (n >= 0) {
      // Short: the kernel had no more. (0: the peer closed, which stays readable.)
      if (n > 0 && static_cast<std::size_t>(n) < size) {
        s.readable = false;
      }
      return n;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      s.readable = false;
    } else {
      ec.assign(errno, boost::system::system_category());
    }
    return -1;
  }
}

net::awaitable<boost::system::error_code> read_readiness::read_some(
    slot& s, int fd, boost::beast::flat_buffer& buffer,
    std::chrono::steady_clock::time_point deadline, const bool* expired) {
  for (bool waited = false;; waited = true) {
    boost::system::error_code ec;
    const auto room = buffer.prepare(boost::beast::read_size(buffer, 65536));
    const std::ptrdiff_t n = read(s, fd, room.data(), room.size(), ec);
    if (n > 0) {
      buffer.commit(static_cast<std::size_t>(n));
      // A peer that keeps the socket full (pipelined requests that fill every read) would
      // otherwise be served inline for ever: every so many reads without a wait, the others
      // get a turn, as Asio's posted completions gave them one on every read.
      if (waited) {
        s.unwaited_reads = 0;
      } else if (++s.unwaited_reads >= max_unwaited_reads) {
        s.unwaited_reads = 0;
        co_await net::post(ex_, net::use_awaitable);
      }
      co_return ec;
    }
    if (n == 0) {
      co_return net::error::eof;
    }
    if (ec) {
      co_return ec;
    }
    if (expired != nullptr && *expired) {
      co_return boost::beast::error::timeout;
    }
    auto [wec] = co_await async_wait(s, deadline, net::as_tuple(net::use_awaitable));
    if (wec) {
      co_return wec;
    }
    if (!s.watched) {
      co_return net::error::operation_aborted;  // removed (`fd` may be closed) while woken
    }
  }
}

void read_readiness::arm() {
  if (armed_ || waiting_.empty() || !set_.is_open()) {
    return;
  }
  armed_ = true;
  set_.async_wait(net::posix::stream_descriptor::wait_read,
                  [this](boost::system::error_code ec) { on_ready(ec); });
}

void read_readiness::on_ready(boost::system::error_code ec) {
  armed_ = false;
  if (ec) {
    arm();  // cancelled when the last read stopped waiting; another may have started since
    return;
  }
  std::array<epoll_event, 256> events;
  int n = 0;
  do {
    n = ::epoll_wait(set_.native_handle(), events.data(), static_cast<int>(events.size()), 0);
    // Each woken read's handler is taken out first and called after: a resumed read may end its
    // connection, and with it a slot that a later event of this batch points at.
    for (int i = 0; i < n; ++i) {
      slot& s = *static_cast<slot*>(events[i].data.ptr);
      s.readable = true;
      if (s.waiter) {
        woken_.push_back(take(s));
      }
    }
  } while (n == static_cast<int>(events.size()) || (n < 0 && errno == EINTR));
  arm();
  // Resumed last, from a list of their own: a handler that throws leaves none of them in
  // woken_ to be resumed twice. The capacity goes back to woken_ for the next batch.
  std::vector<std::unique_ptr<waiter>> woken;
  woken.swap(woken_);
  for (auto& w : woken) {
    w->complete(boost::system::error_code{});
  }
  woken.clear();
  if (woken_.empty()) {
    woken_.swap(woken);
  }
}

}  // namespace mcpgw
