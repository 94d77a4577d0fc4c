// What of a call's arguments the audit log keeps: configured paths and secret-looking values
// are replaced by "[redacted]", and the result is bounded; the digest is of the arguments as
// sent, so a record can be matched to a call without keeping its secrets.
#pragma once

#include "mcpgw/filter.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::plugins::audit {

struct redaction_rules {
  // Dotted paths into the arguments ("password", "auth.token", "items.*.secret"; '*' is any
  // key or index).
  std::vector<std::string> paths;
  std::size_t max_bytes = 4096;  // a longer result is replaced by {"truncated":<bytes>}
};

// The arguments (a JSON value) redacted and re-serialized; "" when `arguments` is empty or
// not valid JSON.
std::string redact_arguments(std::string_view arguments, const redaction_rules& rules);

struct audited_arguments {
  std::string redacted;    // "" when the message has no params.arguments
  inline_text<64> digest;  // SHA-256 (hex) of the arguments, minified, before redaction
};
// params.arguments of a JSON-RPC message, for its audit record.
audited_arguments audit_arguments(std::string_view message, const redaction_rules& rules);
// The same from the arguments alone (a JSON value, as message_context::arguments has it):
// only they are parsed.
audited_arguments audit_argument_value(std::string_view arguments, const redaction_rules& rules);
// The same into `redacted` (emptied first; "" when they are not JSON), whose buffer is reused:
// the digest is returned.
inline_text<64> audit_argument_value(std::string_view arguments, const redaction_rules& rules,
                                     std::string& redacted);

// Key names whose values are always redacted, whatever the paths say: password, secret,
// token, api_key, apikey, authorization, credential, private_key, cookie, session (any case,
// as part of the key).
bool secret_looking_key(std::string_view key);
// Values that look like credentials whatever their key: bearer tokens, JWTs, PEM keys.
bool secret_looking_value(std::string_view value);

}  // namespace mcpgw::plugins::audit
