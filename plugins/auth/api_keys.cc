#include "auth/api_keys.h"

#include "mcpgw/hex.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <stdexcept>

namespace mcpgw::plugins {

namespace {

// OpenSSL 3 looks the algorithm up (under a lock) and allocates a context on every
// EVP_Digest(..., EVP_sha256(), ...). The audit chain and API keys hash on every request, so
// the algorithm is fetched once and each thread keeps its context.
const EVP_MD* sha256_md() {
  static const EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) {
      throw std::runtime_error("SHA-256 is not available in OpenSSL");
    }
    return fetched;  // kept for the life of the process
  }();
  return md;
}

struct md_ctx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~md_ctx() { EVP_MD_CTX_free(ctx); }
  md_ctx() = default;
  md_ctx(const md_ctx&) = delete;
  md_ctx& operator=(const md_ctx&) = delete;
};

}  // namespace

sha256_digest sha256_bytes(std::string_view data) {
  thread_local md_ctx local;
  sha256_digest out{};
  unsigned int length = 0;
  if (local.ctx == nullptr || EVP_DigestInit_ex2(local.ctx, sha256_md(), nullptr) != 1 ||
      EVP_DigestUpdate(local.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(local.ctx, out.data(), &length) != 1 || length != out.size()) {
    throw std::runtime_error("SHA-256 failed in OpenSSL");
  }
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
