#include "cluster/cluster.h"

#include "store/fields.h"
#include "store/redis_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <array>
#include <charconv>

namespace mcpgw::cluster {

namespace {

using fields::put;
using fields::take;

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);
constexpr char hex_digits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

}  // namespace

std::string encode_principal(const principal& who) {
  std::string raw;
  put(raw, to_string(who.via));
  put(raw, who.tenant);
  put(raw, who.subject);
  put(raw, who.issuer);
  for (const auto& scope : who.scopes) {
    put(raw, scope);
  }
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out += hex_digits[c >> 4];
    out += hex_digits[c & 0xf];
  }
  return out;
}

std::optional<principal> decode_principal(std::string_view text) {
  if (text.size() % 2 != 0) {
    return std::nullopt;
  }
  std::string raw;
  raw.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    int hi = hex_value(text[i]);
    int lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    raw += static_cast<char>(hi * 16 + lo);
  }
  std::string_view in = raw;
  principal who;
  std::string via;
  if (!take(in, via) || !take(in, who.tenant) || !take(in, who.subject) || !take(in, who.issuer)) {
    return std::nullopt;
  }
  if (!from_string(via, who.via)) {
    return std::nullopt;
  }
  while (!in.empty()) {
    std::string scope;
    if (!take(in, scope)) {
      return std::nullopt;
    }
    who.scopes.push_back(std::move(scope));
  }
  return who;
}

bool token_matches(std::string_view given, std::string_view secret) {
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (std::size_t i = 0; i < secret.size(); ++i) {
    diff |= static_cast<unsigned char>(secret[i] ^ (i < given.size() ? given[i] : 0));
  }
  return diff == 0;
}

peers::peers(net::any_io_executor ex, const gateway_config& config,
             std::shared_ptr<redis_client> redis, logger& log)
    : ex_(ex),
      config_(*config.cluster),
      gateway_(config),
      redis_(std::move(redis)),
      log_(log),
      timer_(ex) {}

peers::~peers() = default;

std::string peers::key(std::string_view replica) const {
  std::string k = gateway_.session_store.key_prefix;
  k += "replica:";
  k += replica;
  return k;
}

void peers::start() {
  ++running_;
  net::co_spawn(ex_, heartbeat(), net::detached);
}

void peers::stop() {
  stopped_ = true;
  timer_.cancel();
}

net::awaitable<void> peers::heartbeat() {
  const std::string k = key(config_.advertise);
  const std::string ttl = std::to_string(config_.heartbeat.count() * 3);
  while (!stopped_) {
    std::array<std::string_view, 5> set{"SET", k, "1", "PX", ttl};
    redis_result r = co_await redis_->command(set);
    const bool ok = r.ok() && !r.reply.is_error();
    if (ok != registered_) {
      registered_ = ok;
      if (ok) {
        log_.info("replica registered", {{"replica", config_.advertise}});
      } else {
        log_.warn("replica registration failed; its stdio sessions look gone to the others",
                  {{"replica", config_.advertise}, {"error", r.ok() ? r.reply.str : r.error}});
      }
    }
    if (stopped_) {
      break;
    }
    timer_.expires_after(config_.heartbeat);
    co_await timer_.async_wait(tuple_awaitable);
  }
  // Leaving: the others learn at once that this replica's sessions are gone.
  std::array<std::string_view, 2> del{"DEL", k};
  co_await redis_->command(del);
  --running_;
}

net::awaitable<owner_state> peers::state_of(std::string_view owner) {
  std::string k = key(owner);
  std::array<std::string_view, 2> exists{"EXISTS", k};
  redis_result r = co_await redis_->command(exists);
  if (!r.ok() || r.reply.is_error()) {
    co_return owner_state::unknown;
  }
  co_return r.reply.integer == 1 ? owner_state::alive : owner_state::gone;
}

http_backend& peers::peer(const std::string& owner) {
  auto it = peers_.find(owner);
  if (it == peers_.end()) {
    backend_config b;
    b.name = "replica " + owner;
    b.kind = backend_kind::http;
    b.http.url = "http://" + owner + "/";
    // The owner answers within its own backends' deadlines; this one only catches a replica
    // that stopped answering altogether.
    duration longest = std::chrono::seconds(60);
    for (const auto& backend : gateway_.backends) {
      longest = std::max({longest, backend.http.timeout, backend.stdio.timeout});
    }
    b.http.timeout = longest + std::chrono::seconds(10);
    b.http.connect_timeout = std::chrono::seconds(2);
    b.http.retry_attempts = 1;
    b.http.max_idle_connections = 16;
    it = peers_.emplace(owner, std::make_unique<http_backend>(ex_, b, gateway_.limits, log_)).first;
  }
  return *it->second;
}

std::string peers::forwarding_headers(const principal& who) const {
  std::string lines;
  lines += token_header;
  lines += ": ";
  lines += config_.secret;
  lines += "\r\n";
  lines += principal_header;
  lines += ": ";
  lines += encode_principal(who);
  lines += "\r\n";
  return lines;
}

}  // namespace mcpgw::cluster
