#include "rate_limit/global_buckets.h"

#include "store/redis_client.h"

#include <openssl/sha.h>

#include <cstdio>

namespace mcpgw::plugins::rate_limit {

namespace {

// KEYS: the buckets; ARGV: per bucket, tokens per millisecond and burst. A bucket is a hash
// {t: tokens, u: last update in ms}, expiring once it would be full again (it then holds no
// information). The clock is the Redis server's: replicas' clocks may disagree.
constexpr const char* lua = R"(local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local b = redis.call('HMGET', KEYS[i], 't', 'u')
  local tokens = tonumber(b[1])
  local updated = tonumber(b[2])
  if tokens == nil or updated == nil then
    tokens = burst
    updated = now
  end
  tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
  local refused = tokens < 1
  if not refused then
    tokens = tokens - 1
  end
  redis.call('HSET', KEYS[i], 't', tostring(tokens), 'u', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((burst - tokens) / rate) + 1000)
  if refused then
    return {i, math.ceil((1 - tokens) / rate)}
  end
end
return {0, 0}
)";

std::string sha1_hex(const std::string& text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  std::string out;
  char buf[3];
  for (unsigned char c : digest) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

const std::string& global_buckets::script() {
  static const std::string text(lua);
  return text;
}

std::vector<std::string> script_arguments(std::string_view sha,
                                          std::span<const global_draw> draws) {
  std::vector<std::string> args;
  args.reserve(3 + draws.size() * 3);
  args.emplace_back("EVALSHA");
  args.emplace_back(sha);
  args.push_back(std::to_string(draws.size()));
  for (const auto& d : draws) {
    args.push_back(d.key);
  }
  for (const auto& d : draws) {
    args.push_back(number(d.rule.limit / static_cast<double>(d.rule.per.count())));
    args.push_back(number(d.rule.burst));
  }
  return args;
}

global_decision read_script_reply(const redis_reply& reply, std::size_t draws) {
  global_decision out;
  if (reply.type != redis_reply::kind::array || reply.elements.size() != 2 ||
      reply.elements[0].type != redis_reply::kind::integer ||
      reply.elements[1].type != redis_reply::kind::integer || reply.elements[0].integer < 0 ||
      static_cast<std::size_t>(reply.elements[0].integer) > draws) {
    out.result = global_decision::outcome::unavailable;
    out.error = reply.is_error() ? "the rate-limit script failed: " + reply.str
                                 : "the rate-limit script answered something unexpected";
    return out;
  }
  if (reply.elements[0].integer > 0) {
    out.result = global_decision::outcome::refused;
    out.refused = static_cast<std::size_t>(reply.elements[0].integer - 1);
    out.retry_after = std::chrono::milliseconds(std::max<long long>(reply.elements[1].integer, 1));
  }
  return out;
}

global_buckets::global_buckets(std::shared_ptr<redis_client> redis, std::string key_prefix)
    : redis_(std::move(redis)), prefix_(std::move(key_prefix)), sha_(sha1_hex(script())) {}

std::string global_buckets::bucket_key(std::string_view rule_name, std::string_view key) const {
  std::string k = prefix_;
  k += "ratelimit:";
  k += rule_name;
  k += ':';
  k += key;
  return k;
}

boost::asio::awaitable<global_decision> global_buckets::take(std::span<const global_draw> draws) {
  std::vector<std::string> args = script_arguments(sha_, draws);
  std::vector<std::string_view> views(args.begin(), args.end());
  redis_result res = co_await redis_->command(views);
  if (res.ok() && res.reply.is_error() && res.reply.str.starts_with("NOSCRIPT")) {
    // First use on this server (or after a restart or SCRIPT FLUSH): send the script itself,
    // which also caches it for the EVALSHAs that follow.
    views[0] = "EVAL";
    views[1] = script();
    res = co_await redis_->command(views);
  }
  if (!res.ok()) {
    global_decision out;
    out.result = global_decision::outcome::unavailable;
    out.error = res.error;
    co_return out;
  }
  co_return read_script_reply(res.reply, draws.size());
}

}  // namespace mcpgw::plugins::rate_limit
