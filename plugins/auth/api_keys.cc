#include "auth/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <stdexcept>

namespace mcpgw::plugins {

std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), out, &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed in OpenSSL");
  }
  return std::string(reinterpret_cast<const char*>(out), length);
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xf]);
  }
  return out;
}

api_key_store::api_key_store(const std::vector<tenant_config>& tenants) {
  for (const auto& t : tenants) {
    for (const auto& digest : t.api_key_digests) {
      entries_.push_back(entry{digest, t.name});
    }
  }
}

std::optional<api_key_store::match> api_key_store::find(std::string_view key) const {
  const std::string digest = sha256(key);
  const entry* found = nullptr;
  for (const auto& e : entries_) {
    // No early exit: every digest costs the same.
    const bool same = e.digest.size() == digest.size() &&
                      CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0;
    found = same ? &e : found;
  }
  if (found == nullptr) {
    return std::nullopt;
  }
  return match{found->tenant, to_hex(digest)};
}

}  // namespace mcpgw::plugins
