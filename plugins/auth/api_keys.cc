#include "auth/api_keys.h"

#include "mcpgw/hex.h"

// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, and used here on
// purpose: OpenSSL 3.0's EVP_DigestInit_ex2 frees and allocates the provider's context on
// every digest (about three heap blocks; so does the one-shot SHA256(), through
// EVP_Q_digest), and the audit log and API keys hash on every request. These hash on the
// stack, with the same assembly (SHA-NI where the CPU has it), and are in every OpenSSL 3.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace mcpgw::plugins {

sha256_digest sha256_bytes(std::string_view data) {
  static_assert(std::tuple_size_v<sha256_digest> == SHA256_DIGEST_LENGTH);
  sha256_digest out{};
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data.data(), data.size());
  SHA256_Final(out.data(), &ctx);
  return out;
}

std::string sha256(std::string_view data) {
  const sha256_digest d = sha256_bytes(data);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string sha256_hex(std::string_view data) {
  const sha256_digest d = sha256_bytes(data);
  return to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

std::string to_hex(std::string_view bytes) {
  std::string out(bytes.size() * 2, '\0');
  hex::write(out.data(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return out;
}

api_key_store::api_key_store(const std::vector<tenant_config>& tenants) {
  for (const auto& t : tenants) {
    for (const auto& digest : t.api_key_digests) {
      entries_.push_back(entry{digest, to_hex(digest), t.name});
    }
  }
}

std::optional<api_key_store::match> api_key_store::find(std::string_view key) const {
  const sha256_digest digest = sha256_bytes(key);
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
  return match{found->tenant, found->fingerprint};
}

}  // namespace mcpgw::plugins
