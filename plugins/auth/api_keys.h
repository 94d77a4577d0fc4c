// API keys of the tenants, as the config lists them: SHA-256 digests only. The auth filter
// asks which tenant a presented key belongs to; the key itself is never written anywhere or
// logged (its credential cache holds keys that verified in memory, auth/credential_cache.h).
#pragma once

#include "mcpgw/config.h"

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::plugins {

class api_key_store {
 public:
  explicit api_key_store(const std::vector<tenant_config>& tenants);

  struct match {
    std::string tenant;
    std::string fingerprint;  // the digest in hex: names the key in bindings (not reversible)
  };
  // The tenant of `key`, if some tenant lists its digest. Every stored digest is compared, in
  // constant time, whatever matches: the time taken says nothing about which key is close.
  std::optional<match> find(std::string_view key) const;
  bool empty() const { return entries_.empty(); }

 private:
  struct entry {
    std::string digest;       // 32 raw bytes
    std::string fingerprint;  // the digest in hex, made once rather than per request
    std::string tenant;
  };
  std::vector<entry> entries_;
};

using sha256_digest = std::array<unsigned char, 32>;
// SHA-256 of `data`: raw bytes without an allocation, raw in a string, or in lowercase hex.
sha256_digest sha256_bytes(std::string_view data);
std::string sha256(std::string_view data);
std::string sha256_hex(std::string_view data);
std::string to_hex(std::string_view bytes);

}  // namespace mcpgw::plugins
