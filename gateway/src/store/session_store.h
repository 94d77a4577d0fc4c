// Where client sessions are recorded so that any replica can serve them: the session's route,
// backend, upstream session id, negotiated version and the principal it is bound to.
// `memory` keeps records in the process (one replica); `redis` shares them between replicas.
// Used by the client-facing endpoints: put at initialize, get for an id not known locally,
// touch (sliding TTL, throttled by the caller), erase on DELETE and session end.
#pragma once

#include "mcpgw/config.h"
#include "mcpgw/filter.h"
#include "mcpgw/log.h"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mcpgw {

class redis_client;

struct session_record {
  std::string id;  // the client's Mcp-Session-Id
  std::string route;
  std::string backend;
  std::string upstream_id;  // the backend's Mcp-Session-Id (HTTP backends)
  std::string replica;      // the backend replica's URL, when the backend has several
  std::string protocol_version;
  std::string client_capabilities;  // params.capabilities of the client's initialize (JSON)
  // The replica that holds the session's process or stream (stdio, SSE backends); empty when
  // any replica can serve it from this record (Streamable HTTP backends).
  std::string owner;
  principal who;  // the binding; scopes are not kept (they are read per request)
};

// The record as stored: versioned, length-prefixed fields. Empty optional on bad input.
std::string encode_session_record(const session_record& r);
std::optional<session_record> decode_session_record(std::string_view text);

enum class store_status { ok, not_found, unavailable };

struct store_result {
  store_status status = store_status::ok;
  std::string error;  // unavailable: why
};

class session_store {
 public:
  virtual ~session_store() = default;
  virtual std::string_view type() const = 0;
  // Shared with other replicas: an id unknown locally may be found here, and a locally known
  // session may have been deleted elsewhere.
  virtual bool shared() const = 0;
  virtual boost::asio::awaitable<store_result> put(const session_record& r, duration ttl) = 0;
  virtual boost::asio::awaitable<store_result> get(std::string_view id, session_record& out) = 0;
  // Extends the record's life; not_found when it expired or another replica deleted it.
  virtual boost::asio::awaitable<store_result> touch(std::string_view id, duration ttl) = 0;
  virtual boost::asio::awaitable<store_result> erase(std::string_view id) = 0;
  // Redis commands (or memory operations) issued, for bench/ and metrics.
  virtual std::uint64_t operations() const = 0;
};

// The process-local store.
class memory_session_store final : public session_store {
 public:
  using clock = std::chrono::steady_clock;
  std::string_view type() const override { return "memory"; }
  bool shared() const override { return false; }
  boost::asio::awaitable<store_result> put(const session_record& r, duration ttl) override;
  boost::asio::awaitable<store_result> get(std::string_view id, session_record& out) override;
  boost::asio::awaitable<store_result> touch(std::string_view id, duration ttl) override;
  boost::asio::awaitable<store_result> erase(std::string_view id) override;
  std::uint64_t operations() const override { return operations_; }
  std::size_t size() const { return records_.size(); }

 private:
  struct entry {
    session_record record;
    clock::time_point expires;
  };
  void purge_expired();
  std::unordered_map<std::string, entry> records_;
  std::uint64_t operations_ = 0;
};

// Records in Redis under <key_prefix>session:<id>, as one string with a TTL (SET PX): written
// and expired atomically, read in one GET.
class redis_session_store final : public session_store {
 public:
  redis_session_store(std::shared_ptr<redis_client> redis, std::string key_prefix);
  std::string_view type() const override { return "redis"; }
  bool shared() const override { return true; }
  boost::asio::awaitable<store_result> put(const session_record& r, duration ttl) override;
  boost::asio::awaitable<store_result> get(std::string_view id, session_record& out) override;
  boost::asio::awaitable<store_result> touch(std::string_view id, duration ttl) override;
  boost::asio::awaitable<store_result> erase(std::string_view id) override;
  std::uint64_t operations() const override;

 private:
  std::string key(std::string_view id) const;
  std::shared_ptr<redis_client> redis_;
  std::string prefix_;
};

// The store the configuration asks for; for `redis`, the client it shares with other users
// (the global rate limits) is `redis`.
std::shared_ptr<session_store> make_session_store(const session_store_config& config,
                                                  std::shared_ptr<redis_client> redis);

}  // namespace mcpgw
