// The configured filters in order, and the one place that runs their hooks: requests in config
// order, responses and completions in reverse (the first filter sees a request first and its
// answer last). Built once by the server; sessions and requests share it.
#pragma once

#include "mcpgw/filter.h"

#include <memory>
#include <optional>
#include <vector>

namespace mcpgw {

class filter_chain {
 public:
  filter_chain() = default;
  explicit filter_chain(std::vector<std::unique_ptr<filter>> filters)
      : filters_(std::move(filters)) {}

  // Creates the filters config.filters lists.
  static std::shared_ptr<const filter_chain> build(const filter_services& services);

  bool empty() const { return filters_.empty(); }

  net::awaitable<filter_status> run_http(http_context& ctx) const;
  net::awaitable<filter_status> run_request(message_context& ctx) const;
  void run_response(response_context& ctx) const;
  void run_complete(const request_record& record) const;
  std::vector<filter::endpoint> endpoints() const;
  void start() const;
  void stop() const;

 private:
  std::vector<std::unique_ptr<filter>> filters_;
};

// Calls the chain's completion hooks exactly once for one request: when it is destroyed (the
// request left the session's books, or the session ended). Inactive without a chain, so a
// gateway without filters pays nothing.
class completion_guard {
 public:
  completion_guard() = default;
  completion_guard(std::shared_ptr<const filter_chain> chain, request_record record)
      : chain_(std::move(chain)), record_(std::move(record)) {}
  completion_guard(completion_guard&& other) noexcept
      : chain_(std::move(other.chain_)), record_(std::move(other.record_)) {
    other.chain_.reset();
  }
  completion_guard& operator=(completion_guard&& other) noexcept {
    if (this != &other) {
      fire();
      chain_ = std::move(other.chain_);
      record_ = std::move(other.record_);
      other.chain_.reset();
    }
    return *this;
  }
  completion_guard(const completion_guard&) = delete;
  completion_guard& operator=(const completion_guard&) = delete;
  ~completion_guard() { fire(); }

  bool active() const { return chain_ != nullptr; }
  // Records how the request ended; the last word before the guard fires wins, except that a
  // cancellation stays a cancellation.
  void set_outcome(request_outcome outcome, int code = 0, std::string_view message = {});
  const request_record* record() const { return chain_ ? &*record_ : nullptr; }
  // The answer the client gets: its size, and whether it is a failed tool call.
  void set_answer(std::size_t bytes, bool tool_error) {
    if (chain_) {
      record_->response_bytes = bytes;
      record_->tool_error = tool_error;
    }
  }
  void keep_body(std::string_view body) {
    if (chain_) {
      record_->request_body.assign(body);
    }
  }
  void fire();

 private:
  std::shared_ptr<const filter_chain> chain_;
  std::optional<request_record> record_;
};

}  // namespace mcpgw
