// Strict base64url for JOSE: jwks.cc decodes key members with it, jwt.cc a token's three
// segments, and tests build tokens with the encoder. jwt.h includes it for its users.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mcpgw::auth {

// base64url without padding (RFC 4648 §5). Decoding rejects '=', bad characters, impossible
// lengths and non-zero trailing bits, so that each byte string has exactly one encoding.
std::optional<std::string> base64url_decode(std::string_view text);
std::string base64url_encode(std::string_view bytes);

}  // namespace mcpgw::auth
