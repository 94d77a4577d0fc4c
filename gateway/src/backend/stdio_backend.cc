#include "backend/stdio_backend.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <cctype>

namespace mcpgw {

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);
constexpr std::size_t stderr_line_limit = 4096;  // longer stderr lines are cut in the log
constexpr std::size_t oversize_tail = 96;        // kept of a discarded line, to find its id
constexpr auto max_backoff = std::chrono::seconds(30);

// The raw id of a JSON-RPC message from the end of its text ({..., "id": 7}), which is where
// the SDKs put it; empty when it is not there.
std::string id_near_end(std::string_view tail) {
  std::size_t at = tail.rfind("\"id\"");
  if (at == std::string_view::npos) {
    return {};
  }
  std::size_t i = at + 4;
  while (i < tail.size() && (tail[i] == ' ' || tail[i] == ':')) {
    ++i;
  }
  std::size_t end = i;
  if (end < tail.size() && tail[end] == '"') {
    end = tail.find('"', end + 1);
    return end == std::string_view::npos ? std::string() : std::string(tail.substr(i, end - i + 1));
  }
  while (end < tail.size() &&
         (std::isdigit(static_cast<unsigned char>(tail[end])) != 0 || tail[end] == '-')) {
    ++end;
  }
  return std::string(tail.substr(i, end - i));
}

bool looks_like_json(std::string_view line) {
  std::size_t i = line.find_first_not_of(" \t");
  return i != std::string_view::npos && (line[i] == '{' || line[i] == '[');
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// stdio_process

stdio_process::stdio_process(stdio_backend& backend, std::unique_ptr<child_process> child)
    : message_channel(backend.executor()),
      backend_(backend),
      child_(std::move(child)),
      pid_(child_->pid()),
      warm_signal_(backend.executor(), net::steady_timer::time_point::max()) {}

stdio_process::~stdio_process() = default;

void stdio_process::start() {
  auto me = self();
  net::co_spawn(
      backend_.executor(), [me]() { return me->read_stdout(); }, net::detached);
  net::co_spawn(
      backend_.executor(), [me]() { return me->read_stderr(); }, net::detached);
  net::co_spawn(
      backend_.executor(), [me]() { return me->watch_exit(); }, net::detached);
  start_delivery();
}

bool stdio_process::send(std::string_view message) {
  if (ended() || exited_ || stopping_ || !child_->stdin_pipe().is_open()) {
    return false;
  }
  if (outbox_bytes_ + message.size() + 1 > backend_.limits().max_backend_message) {
    backend_.log().warn("stdio backend is not reading its input; message refused",
                        {{"backend", backend_.name()},
                         {"session", session_id()},
                         {"queued_bytes", std::to_string(outbox_bytes_)}});
    return false;
  }
  std::string line;
  line.reserve(message.size() + 1);
  for (char c : message) {
    line.push_back(c == '\n' || c == '\r' ? ' ' : c);
  }
  line.push_back('\n');
  outbox_bytes_ += line.size();
  outbox_.push_back(std::move(line));
  if (!writing_) {
    writing_ = true;
    auto me = self();
    net::co_spawn(
        backend_.executor(), [me]() { return me->write_loop(); }, net::detached);
  }
  return true;
}

net::awaitable<void> stdio_process::write_loop() {
  // Everything queued goes out in one gathered write (up to max_gather messages): under load
  // one system call carries many messages. Elements of a deque stay where they are while
  // others are appended, so the buffers stay valid during the write.
  constexpr std::size_t max_gather = 64;
  std::vector<net::const_buffer> gather;
  gather.reserve(max_gather);
  while (!outbox_.empty()) {
    gather.clear();
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < outbox_.size() && i < max_gather; ++i) {
      gather.push_back(net::buffer(outbox_[i]));
      bytes += outbox_[i].size();
    }
    const std::size_t count = gather.size();
    auto [ec, n] = co_await net::async_write(child_->stdin_pipe(), gather, tuple_awaitable);
    if (ec) {
      // The process closed its stdin or died: what is queued cannot be delivered. Its exit
      // (seen by watch_exit) fails the session's requests.
      outbox_.clear();
      outbox_bytes_ = 0;
      break;
    }
    outbox_bytes_ -= bytes;
    outbox_.erase(outbox_.begin(), outbox_.begin() + static_cast<std::ptrdiff_t>(count));
  }
  writing_ = false;
}

void stdio_process::stop() {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  detach_listener();
  warm_signal_.cancel();
  backend_.uncount(*this);
  if (!exited_) {
    auto me = self();
    net::co_spawn(
        backend_.executor(), [me]() { return me->run_shutdown(); }, net::detached);
  }
}

net::awaitable<void> stdio_process::run_shutdown() {
  co_await child_->terminate(backend_.config().stdio.shutdown_timeout);
}

net::awaitable<void> stdio_process::read_stdout() {
  std::array<char, 16 * 1024> chunk{};
  std::string line;
  std::size_t discarding = 0;  // > 0: inside an over-long line, its size so far
  std::string tail;
  const std::size_t limit = backend_.limits().max_backend_message;
  while (true) {
    auto [ec, n] =
        co_await child_->stdout_pipe().async_read_some(net::buffer(chunk), tuple_awaitable);
    if (ec) {
      break;
    }
    std::string_view data(chunk.data(), n);
    while (!data.empty()) {
      std::size_t nl = data.find('\n');
      std::string_view piece = data.substr(0, nl);
      data = nl == std::string_view::npos ? std::string_view() : data.substr(nl + 1);
      if (discarding == 0 && line.size() + piece.size() > limit) {
        discarding = line.size();
        tail = line.size() > oversize_tail ? line.substr(line.size() - oversize_tail) : line;
        line.clear();
      }
      if (discarding > 0) {
        discarding += piece.size();
        tail += piece;
        if (tail.size() > oversize_tail) {
          tail.erase(0, tail.size() - oversize_tail);
        }
      } else {
        line += piece;
      }
      if (nl == std::string_view::npos) {
        break;  // the line goes on in the next read
      }
      if (discarding > 0) {
        backend_.log().warn("stdio backend message over limits.max_backend_message discarded",
                            {{"backend", backend_.name()},
                             {"session", session_id()},
                             {"bytes", std::to_string(discarding)},
                             {"limit", std::to_string(limit)}});
        co_await queue(id_near_end(tail), discarding);
        discarding = 0;
        tail.clear();
        continue;
      }
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      co_await take_line(line);
      line.clear();
    }
  }
  reader_done_ = true;
  finish_if_done();
}

net::awaitable<void> stdio_process::take_line(std::string_view line) {
  if (line.find_first_not_of(" \t") == std::string_view::npos) {
    co_return;
  }
  if (!looks_like_json(line)) {
    // Servers that print banners or debug output on stdout: not fatal, but worth knowing.
    backend_.log().warn("stdio backend wrote a non-JSON line on stdout; skipped",
                        {{"backend", backend_.name()},
                         {"session", session_id()},
                         {"pid", std::to_string(pid_)},
                         {"line", line.substr(0, 200)}});
    co_return;
  }
  if (!warmup_id_.empty()) {
    jsonrpc::envelope env = backend_.decoder().decode(line);
    if ((env.kind == jsonrpc::message_kind::result || env.kind == jsonrpc::message_kind::error) &&
        env.id.in(line) == warmup_id_) {
      init_response_.assign(line);
      warmup_id_.clear();
      warm_signal_.cancel();
      co_return;
    }
  }
  co_await queue(std::string(line));
}

net::awaitable<void> stdio_process::read_stderr() {
  std::array<char, 4096> chunk{};
  std::string line;
  bool cut = false;
  auto flush = [&] {
    if (!line.empty() || cut) {
      backend_.log().info("backend stderr", {{"backend", backend_.name()},
                                             {"session", session_id()},
                                             {"pid", std::to_string(pid_)},
                                             {"line", line},
                                             {"cut", cut ? "true" : "false"}});
    }
    line.clear();
    cut = false;
  };
  while (true) {
    auto [ec, n] =
        co_await child_->stderr_pipe().async_read_some(net::buffer(chunk), tuple_awaitable);
    if (ec) {
      break;
    }
    for (char c : std::string_view(chunk.data(), n)) {
      if (c == '\n') {
        if (!line.empty() && line.back() == '\r') {
          line.pop_back();
        }
        flush();
      } else if (line.size() < stderr_line_limit) {
        line.push_back(c);
      } else {
        cut = true;
      }
    }
  }
  flush();
}

net::awaitable<void> stdio_process::watch_exit() {
  co_await child_->wait_exit();
  exited_ = true;
  status_ = child_->exit_description();
  warm_signal_.cancel();
  (stopping_ ? backend_.log().debug("stdio process ended", {{"backend", backend_.name()},
                                                            {"session", session_id()},
                                                            {"pid", std::to_string(pid_)},
                                                            {"status", status_}})
             : backend_.log().warn("stdio process exited", {{"backend", backend_.name()},
                                                            {"session", session_id()},
                                                            {"pid", std::to_string(pid_)},
                                                            {"status", status_}}));
  finish_if_done();
}

void stdio_process::finish_if_done() {
  // The last messages may still be in the pipe when the exit is seen: both must be over.
  if (exited_ && reader_done_) {
    source_done("process exited (" + status_ + ")");
  }
}

void stdio_process::on_ended() { backend_.process_ended(*this); }

// ---------------------------------------------------------------------------------------------
// stdio_backend

stdio_backend::stdio_backend(net::any_io_executor ex, const backend_config& config,
                             const limits_config& limits, logger& log)
    : ex_(ex), config_(config), limits_(limits), log_(log), refill_timer_(ex) {}

stdio_backend::~stdio_backend() = default;

void stdio_backend::start() { ensure_refill(); }

void stdio_backend::uncount(stdio_process& p) {
  if (p.counted_) {
    p.counted_ = false;
    --active_;
  }
}

net::awaitable<std::shared_ptr<stdio_process>> stdio_backend::spawn(
    std::string& error, const std::vector<std::pair<std::string, std::string>>* extra_env) {
  spawn_spec spec;
  spec.argv = config_.stdio.command;
  if (extra_env == nullptr) {
    spec.env = minimal_environment(config_.stdio.env);
  } else {
    // The tenant's value of a variable replaces the backend-wide one.
    std::vector<std::pair<std::string, std::string>> vars;
    for (const auto& var : config_.stdio.env) {
      auto same = [&](const auto& e) { return e.first == var.first; };
      if (std::none_of(extra_env->begin(), extra_env->end(), same)) {
        vars.push_back(var);
      }
    }
    vars.insert(vars.end(), extra_env->begin(), extra_env->end());
    spec.env = minimal_environment(vars);
  }
  spec.cwd = config_.stdio.cwd;
  ++active_;  // a process on its way counts against the cap
  auto child = co_await child_process::spawn(ex_, spec, error);
  if (!child) {
    --active_;
    start_failure_ = error;
    log_.warn("stdio backend failed to start",
              {{"backend", name()}, {"command", spec.argv.front()}, {"error", error}});
    co_return nullptr;
  }
  start_failure_.clear();
  auto p = std::make_shared<stdio_process>(*this, std::move(child));
  ++running_;
  p->start();
  log_.debug("stdio process started", {{"backend", name()}, {"pid", std::to_string(p->pid())}});
  co_return p;
}

net::awaitable<bool> stdio_backend::warm_up(const std::shared_ptr<stdio_process>& p) {
  p->init_request_ = template_;
  p->warmup_id_ = warmup_id;
  if (!p->send(template_)) {
    co_return false;
  }
  p->warm_signal_.expires_after(config_.stdio.timeout);
  co_await p->warm_signal_.async_wait(tuple_awaitable);
  if (p->init_response_.empty() || p->ended() || p->exited_ || p->stopping_) {
    log_.warn("stdio warm-up initialize failed",
              {{"backend", name()},
               {"pid", std::to_string(p->pid())},
               {"status", p->status_.empty() ? "no answer in time" : p->status_}});
    co_return false;
  }
  jsonrpc::envelope env = decoder_.decode(p->init_response_);
  if (env.kind != jsonrpc::message_kind::result) {
    log_.warn(
        "stdio warm-up initialize answered with an error",
        {{"backend", name()}, {"response", std::string_view(p->init_response_).substr(0, 300)}});
    co_return false;
  }
  co_return p->send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
}

void stdio_backend::ensure_refill() {
  if (!refilling_ && !shut_down_) {
    refilling_ = true;
    net::co_spawn(ex_, refill(), net::detached);
  }
}

net::awaitable<void> stdio_backend::refill() {
  while (!shut_down_ && warm_.size() + warming_ < config_.stdio.pool_warm &&
         active_ < config_.stdio.pool_max) {
    if (backoff_ > duration::zero()) {
      refill_timer_.expires_after(backoff_);
      co_await refill_timer_.async_wait(tuple_awaitable);
      if (shut_down_) {
        break;
      }
    }
    std::string error;
    auto p = co_await spawn(error);
    bool ok = p != nullptr;
    std::string warmed_with = template_;
    if (ok && !warmed_with.empty()) {
      ok = co_await warm_up(p);
    }
    if (ok && !shut_down_ && !p->exited_) {
      backoff_ = duration::zero();
      warm_.push_back(std::move(p));
      continue;
    }
    if (p) {
      p->stop();
    }
    if (shut_down_) {
      break;
    }
    backoff_ = std::min<duration>(std::max<duration>(backoff_ * 2, std::chrono::milliseconds(100)),
                                  max_backoff);
  }
  refilling_ = false;
}

net::awaitable<stdio_backend::lease> stdio_backend::acquire(std::string_view init_request,
                                                            std::string_view tenant,
                                                            bool refill_now) {
  lease out;
  // A tenant's own credentials must not be in a process another tenant could get: its
  // processes never come from, nor go to, the shared warm pool.
  const std::vector<std::pair<std::string, std::string>>* tenant_env = nullptr;
  for (const auto& [name, vars] : config_.stdio.tenant_env) {
    if (!tenant.empty() && name == tenant) {
      tenant_env = &vars;
    }
  }
  auto take = [&](auto it) {
    out.process = std::move(*it);
    warm_.erase(it);
  };
  // Exactly the same initialize: the process is ready for this client.
  auto same = std::find_if(warm_.begin(), warm_.end(), [&](const auto& p) {
    return !p->exited_ && !p->init_request_.empty() && p->init_request_ == init_request;
  });
  auto fresh = std::find_if(warm_.begin(), warm_.end(),
                            [](const auto& p) { return !p->exited_ && p->init_request_.empty(); });
  if (tenant_env == nullptr && same != warm_.end()) {
    take(same);
    out.initialized = true;
  } else if (tenant_env == nullptr && fresh != warm_.end()) {
    take(fresh);
  } else if (!warm_.empty() && active_ >= config_.stdio.pool_max) {
    // Warm processes no use to this session: one makes room for it.
    warm_.front()->stop();
    warm_.pop_front();
  }
  if (!out.process) {
    if (active_ >= config_.stdio.pool_max) {
      out.at_capacity = true;
      out.error = "backend '" + name() + "' runs its maximum of " +
                  std::to_string(config_.stdio.pool_max) +
                  " processes (stdio.pool.max); retry later or raise the limit";
      co_return out;
    }
    out.process = co_await spawn(out.error, tenant_env);
    if (!out.process) {
      out.error = "backend '" + name() + "' could not start: " + out.error;
    }
  }
  if (refill_now) {
    ensure_refill();
  }
  co_return out;
}

void stdio_backend::learn(std::string init_request) {
  if (init_request == template_) {
    return;
  }
  template_ = std::move(init_request);
  // Warm processes initialized for another client are replaced by ones for this client.
  std::erase_if(warm_, [&](const std::shared_ptr<stdio_process>& p) {
    if (!p->init_request_.empty() && p->init_request_ != template_) {
      p->stop();
      return true;
    }
    return false;
  });
  // Uninitialized warm processes are initialized now.
  for (const auto& p : warm_) {
    if (p->init_request_.empty() && !p->exited_) {
      net::co_spawn(
          ex_,
          [this, p]() -> net::awaitable<void> {
            auto it = std::find(warm_.begin(), warm_.end(), p);
            if (it == warm_.end()) {
              co_return;
            }
            warm_.erase(it);  // still counted: it is ours while it initializes
            ++warming_;
            bool ok = co_await warm_up(p);
            --warming_;
            if (ok && !shut_down_ && !p->exited_) {
              warm_.push_back(p);
            } else {
              p->stop();
              ensure_refill();
            }
          },
          net::detached);
    }
  }
  ensure_refill();
}

void stdio_backend::shutdown() {
  shut_down_ = true;
  refill_timer_.cancel();
  for (const auto& p : warm_) {
    p->stop();
  }
  warm_.clear();
}

void stdio_backend::process_ended(stdio_process& p) {
  uncount(p);
  --running_;
  // A warm process that died is replaced (with back-off when it keeps happening).
  auto it = std::find_if(warm_.begin(), warm_.end(), [&](const auto& w) { return w.get() == &p; });
  if (it != warm_.end()) {
    warm_.erase(it);
    if (!p.stopping_) {
      backoff_ = std::min<duration>(
          std::max<duration>(backoff_ * 2, std::chrono::milliseconds(100)), max_backoff);
    }
  }
  ensure_refill();
}

}  // namespace mcpgw
