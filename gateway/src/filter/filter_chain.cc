#include "filter/filter_chain.h"

#include "mcpgw/filter.h"
#include "observability/observer.h"

#include <boost/asio/use_awaitable.hpp>

namespace mcpgw {

std::string_view to_string(request_outcome outcome) {
  switch (outcome) {
    case request_outcome::answered:
      return "answered";
    case request_outcome::error:
      return "error";
    case request_outcome::rejected:
      return "rejected";
    case request_outcome::cancelled:
      return "cancelled";
    case request_outcome::abandoned:
      return "abandoned";
  }
  return "abandoned";
}

void request_record::reset() {
  // Field by field: assigning a new record costs a dozen string moves and the copy of the
  // inline ids. The unit test (RequestRecord) fills every field and compares the result with
  // a new record, and trips when a field is added.
  who.via = principal::method::none;
  for (std::string* text :
       {&who.tenant, &who.subject, &who.issuer, &route, &backend, &replica, &session_id, &method,
        &name, &client_id, &error_message, &request_body, &arguments}) {
    text->clear();
  }
  who.scopes.clear();
  started = {};
  started_steady = {};
  elapsed = {};
  backend_elapsed = {};
  request_id.clear();
  trace_id.clear();
  parent_id.clear();
  span_id.clear();
  outcome = request_outcome::abandoned;
  error_code = 0;
  tool_error = false;
  request_bytes = 0;
  response_bytes = 0;
  arguments_sha256.clear();
  arguments_kept = false;
}

namespace record_pool {
namespace {

// Records kept per thread, and the largest body or arguments buffer a kept one may hold.
constexpr std::size_t max_kept = 256;
constexpr std::size_t max_buffer = std::size_t{64} << 10;

std::vector<std::unique_ptr<request_record>>& kept() {
  thread_local std::vector<std::unique_ptr<request_record>> records;
  return records;
}

}  // namespace

std::unique_ptr<request_record, give_back> take() {
  auto& records = kept();
  if (records.empty()) {
    return std::unique_ptr<request_record, give_back>(new request_record);
  }
  request_record* r = records.back().release();
  records.pop_back();
  return std::unique_ptr<request_record, give_back>(r);
}

void give_back::operator()(request_record* record) const {
  std::unique_ptr<request_record> owned(record);
  auto& records = kept();
  if (records.size() >= max_kept || record->request_body.capacity() > max_buffer ||
      record->arguments.capacity() > max_buffer) {
    return;  // deleted
  }
  record->reset();
  records.push_back(std::move(owned));
}

std::size_t kept_now() { return kept().size(); }

}  // namespace record_pool

net::awaitable<filter_status> filter::on_http(http_context&) { co_return filter_status::next; }
net::awaitable<filter_status> filter::on_request(message_context&) {
  co_return filter_status::next;
}
void filter::on_response(response_context&) {}
void filter::on_complete(const request_record&) {}

std::shared_ptr<const filter_chain> filter_chain::build(const filter_services& services) {
  std::vector<std::unique_ptr<filter>> filters;
  for (const filter_entry& entry : services.config.filters) {
    filters.push_back(entry.factory->create(services));
  }
  // Last in the chain: its response hook sees the backend's answers before any filter edits
  // them, and its completion hook runs first.
  const bool access_log = services.config.observability.access_log;
  if (services.stats != nullptr || access_log) {
    filters.push_back(std::make_unique<observer>(services.stats, services.log, access_log));
  }
  return std::make_shared<const filter_chain>(std::move(filters));
}

namespace {

// Runs the synchronous hooks from `next` on: a stop, every filter passed (next), or nullopt
// with `next` at a filter that must wait.
template <typename Context, typename Try>
std::optional<filter_status> run_now(const std::vector<std::unique_ptr<filter>>& filters,
                                     Context& ctx, std::size_t& next, Try try_hook) {
  for (; next < filters.size(); ++next) {
    std::optional<filter_status> status = try_hook(*filters[next], ctx);
    if (!status) {
      return std::nullopt;
    }
    if (*status == filter_status::stop) {
      return filter_status::stop;
    }
  }
  return filter_status::next;
}

}  // namespace

std::optional<filter_status> filter_chain::try_http(http_context& ctx, std::size_t& next) const {
  return run_now(filters_, ctx, next, [](filter& f, http_context& c) { return f.try_http(c); });
}

std::optional<filter_status> filter_chain::try_request(message_context& ctx,
                                                       std::size_t& next) const {
  return run_now(filters_, ctx, next,
                 [](filter& f, message_context& c) { return f.try_request(c); });
}

net::awaitable<filter_status> filter_chain::run_http(http_context& ctx, std::size_t from) const {
  for (std::size_t i = from; i < filters_.size(); ++i) {
    std::optional<filter_status> now = filters_[i]->try_http(ctx);
    filter_status status = filter_status::next;
    if (now) {
      status = *now;
    } else {
      status = co_await filters_[i]->on_http(ctx);
    }
    if (status == filter_status::stop) {
      co_return filter_status::stop;
    }
  }
  co_return filter_status::next;
}

net::awaitable<filter_status> filter_chain::run_request(message_context& ctx,
                                                        std::size_t from) const {
  for (std::size_t i = from; i < filters_.size(); ++i) {
    std::optional<filter_status> now = filters_[i]->try_request(ctx);
    filter_status status = filter_status::next;
    if (now) {
      status = *now;
    } else {
      status = co_await filters_[i]->on_request(ctx);
    }
    if (status == filter_status::stop) {
      co_return filter_status::stop;
    }
  }
  co_return filter_status::next;
}

void filter_chain::run_response(response_context& ctx) const {
  for (auto it = filters_.rbegin(); it != filters_.rend(); ++it) {
    (*it)->on_response(ctx);
  }
}

void filter_chain::run_complete(const request_record& record) const {
  for (auto it = filters_.rbegin(); it != filters_.rend(); ++it) {
    (*it)->on_complete(record);
  }
}

std::vector<filter::endpoint> filter_chain::endpoints() const {
  std::vector<filter::endpoint> out;
  for (const auto& f : filters_) {
    for (auto& e : f->endpoints()) {
      out.push_back(std::move(e));
    }
  }
  return out;
}

void filter_chain::start() const {
  for (const auto& f : filters_) {
    f->start();
  }
}

void filter_chain::stop() const {
  for (const auto& f : filters_) {
    f->stop();
  }
}

void completion_guard::set_outcome(request_outcome outcome, int code, std::string_view message) {
  if (!chain_ || record_->outcome == request_outcome::cancelled) {
    return;
  }
  record_->outcome = outcome;
  record_->error_code = code;
  record_->error_message.assign(message);
}

void completion_guard::fire() {
  if (!chain_) {
    return;
  }
  auto chain = std::move(chain_);
  chain_.reset();
  record_->elapsed = std::chrono::steady_clock::now() - record_->started_steady;
  chain->run_complete(*record_);
}

}  // namespace mcpgw
