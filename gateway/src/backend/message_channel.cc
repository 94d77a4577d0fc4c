#include "backend/message_channel.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace mcpgw {

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);
constexpr std::size_t inbox_limit = 1024;  // messages waiting for the session

}  // namespace

message_channel::message_channel(net::any_io_executor ex)
    : ex_(ex), wake_(ex, net::steady_timer::time_point::max()) {}

message_channel::~message_channel() = default;

void message_channel::start_delivery() {
  auto self = shared_from_this();
  net::co_spawn(
      ex_, [self]() { return self->deliver_loop(); }, net::detached);
}

void message_channel::attach(std::shared_ptr<channel_listener> listener, std::string session_id) {
  listener_ = std::move(listener);
  session_id_ = std::move(session_id);
  wake();
}

void message_channel::detach_listener() {
  detached_ = true;
  listener_.reset();
  inbox_.clear();
  wake();
}

net::awaitable<void> message_channel::queue(std::string text, std::size_t oversize) {
  // Back-pressure: a session that does not take messages stops the reading, and so the
  // backend, instead of letting the inbox grow.
  while (inbox_.size() >= inbox_limit && !detached_) {
    co_await wake_.async_wait(tuple_awaitable);
  }
  if (detached_) {
    co_return;
  }
  inbox_.push_back(inbound{std::move(text), oversize});
  wake();
}

void message_channel::source_done(std::string reason) {
  if (!source_done_) {
    source_done_ = true;
    exit_reason_ = std::move(reason);
    wake();
  }
}

net::awaitable<void> message_channel::deliver_loop() {
  auto self = shared_from_this();
  while (true) {
    if (listener_ && !inbox_.empty()) {
      inbound next = std::move(inbox_.front());
      inbox_.pop_front();
      wake();  // room for the reader
      auto listener = listener_;
      if (next.oversize > 0) {
        listener->on_oversize(next.text, next.oversize);
      } else {
        co_await listener->on_message(std::move(next.text));
      }
      continue;
    }
    // Done once the source is over and its last message delivered (or nobody takes it).
    if (source_done_ && (inbox_.empty() || !listener_)) {
      break;
    }
    co_await wake_.async_wait(tuple_awaitable);
  }
  ended_ = true;
  if (auto listener = std::exchange(listener_, nullptr)) {
    listener->on_exit(exit_reason_);
  }
  on_ended();
}

}  // namespace mcpgw
