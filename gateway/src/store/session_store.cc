#include "store/session_store.h"

#include "store/fields.h"
#include "store/redis_client.h"

#include <array>
#include <charconv>

namespace mcpgw {

namespace {

constexpr std::string_view record_magic = "mcpgw-session/1;";

std::string ms(duration d) { return std::to_string(std::max<long long>(d.count(), 1)); }

store_result unavailable(const redis_result& r) {
  return {store_status::unavailable, r.ok() ? "redis answered an error: " + r.reply.str : r.error};
}

}  // namespace

std::string encode_session_record(const session_record& r) {
  std::string out(record_magic);
  for (std::string_view v :
       {std::string_view(r.id), std::string_view(r.route), std::string_view(r.backend),
        std::string_view(r.upstream_id), std::string_view(r.replica),
        std::string_view(r.protocol_version), std::string_view(r.client_capabilities),
        std::string_view(r.owner), to_string(r.who.via), std::string_view(r.who.tenant),
        std::string_view(r.who.subject), std::string_view(r.who.issuer)}) {
    fields::put(out, v);
  }
  return out;
}

std::optional<session_record> decode_session_record(std::string_view text) {
  if (!text.starts_with(record_magic)) {
    return std::nullopt;
  }
  text.remove_prefix(record_magic.size());
  session_record r;
  std::string via;
  for (std::string* field :
       {&r.id, &r.route, &r.backend, &r.upstream_id, &r.replica, &r.protocol_version,
        &r.client_capabilities, &r.owner, &via, &r.who.tenant, &r.who.subject, &r.who.issuer}) {
    if (!fields::take(text, *field)) {
      return std::nullopt;
    }
  }
  if (!text.empty()) {
    return std::nullopt;
  }
  if (!from_string(via, r.who.via)) {
    return std::nullopt;
  }
  return r;
}

// --- memory ----------------------------------------------------------------------------------

void memory_session_store::purge_expired() {
  auto now = clock::now();
  std::erase_if(records_, [now](const auto& item) { return item.second.expires <= now; });
}

boost::asio::awaitable<store_result> memory_session_store::put(const session_record& r,
                                                               duration ttl) {
  // Ended sessions erase their records; what expired unnoticed is swept now and then.
  if (++operations_ % 1024 == 0) {
    purge_expired();
  }
  records_.insert_or_assign(r.id, entry{r, clock::now() + ttl});
  co_return store_result{};
}

boost::asio::awaitable<store_result> memory_session_store::get(std::string_view id,
                                                               session_record& out) {
  ++operations_;
  auto it = records_.find(std::string(id));
  if (it == records_.end() || it->second.expires <= clock::now()) {
    co_return store_result{store_status::not_found, {}};
  }
  out = it->second.record;
  co_return store_result{};
}

boost::asio::awaitable<store_result> memory_session_store::touch(std::string_view id,
                                                                 duration ttl) {
  ++operations_;
  auto it = records_.find(std::string(id));
  if (it == records_.end() || it->second.expires <= clock::now()) {
    co_return store_result{store_status::not_found, {}};
  }
  it->second.expires = clock::now() + ttl;
  co_return store_result{};
}

boost::asio::awaitable<store_result> memory_session_store::erase(std::string_view id) {
  ++operations_;
  records_.erase(std::string(id));
  co_return store_result{};
}

// --- redis -----------------------------------------------------------------------------------

redis_session_store::redis_session_store(std::shared_ptr<redis_client> redis,
                                         std::string key_prefix)
    : redis_(std::move(redis)), prefix_(std::move(key_prefix)) {}

std::string redis_session_store::key(std::string_view id) const {
  std::string k;
  k.reserve(prefix_.size() + 8 + id.size());
  k += prefix_;
  k += "session:";
  k += id;
  return k;
}

std::uint64_t redis_session_store::operations() const { return redis_->commands_sent(); }

boost::asio::awaitable<store_result> redis_session_store::put(const session_record& r,
                                                              duration ttl) {
  std::string k = key(r.id);
  std::string value = encode_session_record(r);
  std::string px = ms(ttl);
  std::array<std::string_view, 5> args{"SET", k, value, "PX", px};
  redis_result res = co_await redis_->command(args);
  if (!res.ok() || res.reply.is_error()) {
    co_return unavailable(res);
  }
  co_return store_result{};
}

boost::asio::awaitable<store_result> redis_session_store::get(std::string_view id,
                                                              session_record& out) {
  std::string k = key(id);
  std::array<std::string_view, 2> args{"GET", k};
  redis_result res = co_await redis_->command(args);
  if (!res.ok() || res.reply.is_error()) {
    co_return unavailable(res);
  }
  if (res.reply.type == redis_reply::kind::nil) {
    co_return store_result{store_status::not_found, {}};
  }
  auto record = decode_session_record(res.reply.str);
  if (!record || record->id != id) {
    co_return store_result{store_status::unavailable,
                           "the record at " + k + " is not a session record of this version"};
  }
  out = std::move(*record);
  co_return store_result{};
}

boost::asio::awaitable<store_result> redis_session_store::touch(std::string_view id, duration ttl) {
  std::string k = key(id);
  std::string px = ms(ttl);
  std::array<std::string_view, 3> args{"PEXPIRE", k, px};
  redis_result res = co_await redis_->command(args);
  if (!res.ok() || res.reply.is_error()) {
    co_return unavailable(res);
  }
  co_return store_result{res.reply.integer == 1 ? store_status::ok : store_status::not_found, {}};
}

boost::asio::awaitable<store_result> redis_session_store::erase(std::string_view id) {
  std::string k = key(id);
  std::array<std::string_view, 2> args{"DEL", k};
  redis_result res = co_await redis_->command(args);
  if (!res.ok() || res.reply.is_error()) {
    co_return unavailable(res);
  }
  co_return store_result{};
}

std::shared_ptr<session_store> make_session_store(const session_store_config& config,
                                                  std::shared_ptr<redis_client> redis) {
  if (config.type == "redis") {
    return std::make_shared<redis_session_store>(std::move(redis), config.key_prefix);
  }
  return std::make_shared<memory_session_store>();
}

}  // namespace mcpgw
