// Read readiness of plain TCP sockets, tracked the way nginx tracks it, so that the busy path
// makes no system call that returns EAGAIN.
//
// Asio reads speculatively: every async_read_some first tries recv(), and only after that
// returns EAGAIN does it wait for epoll. On a keep-alive connection the next read starts right
// after the answer went out, when the peer has not sent anything yet, so each request pays one
// recv() that returns EAGAIN per hop (about 1.1 µs here, see bench/micro/syscall_bench.cc), and
// Asio's other way to wait (async_wait) pays an epoll_ctl(MOD) instead.
//
// This keeps its own edge-triggered epoll set, watched through Asio's reactor as one
// descriptor. A socket is taken as readable until a read comes back short (the kernel had no
// more) or with EAGAIN; after that, a read waits for the socket's next edge. One epoll_wait on
// the set wakes every socket that became readable since the last one. One set per io_context
// (an Asio service), shared by client and backend connections: one wake-up serves both hops.
//
// Used for every read on plain TCP: a client's requests (gateway_server::next_request), and a
// backend's answers, headers, bodies and SSE streams alike (http_backend::send_once and
// backend_exchange::read_some). TLS and Beast's fallback parsing read through Asio.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace mcpgw {

namespace net = boost::asio;

class read_readiness : public net::execution_context::service {
 public:
  static net::execution_context::id id;

  // A waiting read's completion handler, type-erased. (Asio 1.81's any_completion_handler
  // wraps itself again on every move from an lvalue.)
  struct waiter {
    virtual ~waiter() = default;
    virtual void complete(boost::system::error_code ec) = 0;
  };

  // One socket's state. It must stay where it is while its socket is watched (the set points
  // at it): remove it before it goes, unless the io_context no longer runs. The socket's descriptor
  // is passed at each call, never kept: a socket closed elsewhere (a write timeout) has -1, not a
  // number another socket may have taken since.
  struct slot {
    slot() = default;
    // A slot dropped while a read waits on it (its connection destroyed at shutdown) takes
    // the waiter with it.
    ~slot();
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;

    read_readiness* owner = nullptr;  // the set it was added to
    bool watched = false;
    // Not known to be drained: the next read tries recv() at once.
    bool readable = true;
    // read_some calls in a row that did not wait (see max_unwaited_reads).
    unsigned unwaited_reads = 0;
    std::unique_ptr<read_readiness::waiter> waiter;
    // While waiting: its deadline (max: none), and where it is in read_readiness::waiting_.
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    std::size_t waiting_index = 0;
  };

  // The io_context's set (`ex` must be an io_context's executor), made on first use and gone
  // with the io_context. Throws std::system_error when the kernel refuses an epoll set.
  static read_readiness& of(const net::any_io_executor& ex);

  // For net::use_service; use of().
  explicit read_readiness(net::execution_context& owner);
  ~read_readiness() override;

  // Watches `fd` for `s`. False (errno kept) when it cannot: the caller reads as Asio does.
  bool add(slot& s, int fd);
  // Stops watching `s`, whose socket has descriptor `fd` now (-1: closed already); a waiting
  // read ends with operation_aborted. Call it before the socket closes: a close takes the
  // socket out of the set only when no other descriptor (a child process's copy) still
  // refers to it.
  void remove(slot& s, int fd);
  // A waiting read ends with operation_aborted (a deadline passed, the connection closes).
  void cancel(slot& s);

  // Completes when `s` may have bytes (or an end or an error) to read, or with
  // boost::beast::error::timeout once `deadline` passed (max: none).
  template <typename Token>
  auto async_wait(slot& s, std::chrono::steady_clock::time_point deadline, Token&& token) {
    return net::async_initiate<Token, void(boost::system::error_code)>(
        [this, &s, deadline](auto handler) {
          s.waiter = std::make_unique<holder<decltype(handler)>>(std::move(handler));
          s.owner = this;
          s.waiting_index = waiting_.size();
          waiting_.push_back(&s);
          s.deadline = deadline;
          if (deadline != std::chrono::steady_clock::time_point::max()) {
            ++timed_;
            if (deadline < timer_at_) {
              move_timer(deadline);
            }
          }
          arm();
        },
        token);
  }

  // One non-blocking recv() into `data`, when `s` is readable. >0: bytes read (a short read
  // marks it drained); 0: the peer closed; -1: nothing now (wait, then call again) or an
  // error in `ec`.
  static std::ptrdiff_t read(slot& s, int fd, void* data, std::size_t size,
                             boost::system::error_code& ec);

  // After this many read_some calls in a row that found bytes at once, the next one lets the
  // io_context run other work first.
  static constexpr unsigned max_unwaited_reads = 16;

  // One read into `buffer` on the socket with descriptor `fd` (at most 64 KiB, as Beast
  // reads): at once when `s` may hold bytes, else after it signals. Errors: the socket's,
  // net::error::eof at the end, beast::error::timeout once `deadline` passed or when
  // `*expired` is true before a wait (the server's deadline sweep), operation_aborted when
  // cancelled or removed.
  net::awaitable<boost::system::error_code> read_some(
      slot& s, int fd, boost::beast::flat_buffer& buffer,
      std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max(),
      const bool* expired = nullptr);

 private:
  // At the io_context's end: the reads still waiting are dropped, not resumed.
  void shutdown() override;

  template <typename Handler>
  struct holder final : waiter {
    explicit holder(Handler&& h) : handler(std::move(h)) {}
    void complete(boost::system::error_code ec) override { std::move(handler)(ec); }
    Handler handler;
  };

  void arm();
  void on_ready(boost::system::error_code ec);
  // Takes `s`'s waiter out, and `s` off the waiting list.
  std::unique_ptr<waiter> take(slot& s);
  void complete(slot& s, boost::system::error_code ec);
  // Deadlines: one timer, at the earliest deadline of the reads that wait with one.
  void move_timer(std::chrono::steady_clock::time_point at);
  void wait_timer();
  void on_timer();

  net::io_context::executor_type ex_;
  net::posix::stream_descriptor set_;
  bool armed_ = false;
  // Slots whose reads wait. Their waiters are dropped at shutdown: a waiter can own, through
  // its coroutine, the very connection that holds the slot.
  std::vector<slot*> waiting_;
  std::size_t timed_ = 0;  // of them, those with a deadline
  std::vector<std::unique_ptr<waiter>> woken_;
  net::steady_timer timer_;
  std::chrono::steady_clock::time_point timer_at_ = std::chrono::steady_clock::time_point::max();
  bool timer_waiting_ = false;
};

}  // namespace mcpgw
