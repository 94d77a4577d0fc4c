#include "mcpgw/jsonrpc.h"

#include "mcpgw/buffer_pool.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <limits>

namespace mcpgw::jsonrpc {

namespace ondemand = simdjson::ondemand;

namespace {

std::string_view rtrim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Decoding failed because the text is not JSON (as opposed to JSON of the wrong shape).
struct syntax_failure {};

// Calls f(key, value) for each field; a field that cannot be read is a syntax failure.
template <class F>
void for_each_field(ondemand::object obj, F&& f) {
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      throw syntax_failure{};
    }
    ondemand::value v;
    if (field.value().get(v)) {
      throw syntax_failure{};
    }
    f(key, v);
  }
}

class object_reader {
 public:
  object_reader(std::string_view original, const char* base) : original_(original), base_(base) {}

  token token_of(std::string_view raw) const {
    raw = rtrim(raw);
    return token{static_cast<std::uint32_t>(raw.data() - base_),
                 static_cast<std::uint32_t>(raw.size())};
  }

  // Reads a string value into `out`; false when the value is not a string.
  bool read_string(ondemand::value v, json_string& out) const {
    std::string_view raw = rtrim(v.raw_json_token());
    std::string_view unescaped;
    auto err = v.get_string().get(unescaped);
    if (err == simdjson::INCORRECT_TYPE) {
      return false;
    }
    if (err) {
      throw syntax_failure{};
    }
    std::string_view inner = raw.substr(1, raw.size() - 2);
    if (inner.find('\\') == std::string_view::npos) {
      out.escaped = false;
      out.view = original_.substr(static_cast<std::size_t>(inner.data() - base_), inner.size());
    } else {
      out.escaped = true;
      out.owned.assign(unescaped);
    }
    return true;
  }

  // An id must be a string or an integer.
  bool read_id(ondemand::value v, token& out) const {
    ondemand::json_type type;
    if (v.type().get(type)) {
      throw syntax_failure{};
    }
    std::string_view raw = v.raw_json_token();
    if (type == ondemand::json_type::string) {
      json_string ignored;
      read_string(v, ignored);
    } else if (type == ondemand::json_type::number) {
      bool integer = false;
      if (v.is_integer().get(integer) || !integer) {
        return false;
      }
    } else {
      return false;
    }
    out = token_of(raw);
    return true;
  }

  // The whole value as it is in the text (an object or array is consumed to its end); `out`
  // stays empty if it cannot be read, and reading the message goes on as for a skipped value.
  void read_raw(ondemand::value v, token& out) const {
    ondemand::json_type type;
    if (v.type().get(type)) {
      return;
    }
    std::string_view raw;
    if (type == ondemand::json_type::object) {
      ondemand::object object;
      if (v.get_object().get(object) || object.raw_json().get(raw)) {
        return;
      }
    } else if (type == ondemand::json_type::array) {
      ondemand::array array;
      if (v.get_array().get(array) || array.raw_json().get(raw)) {
        return;
      }
    } else {
      raw = v.raw_json_token();
    }
    out = token_of(raw);
  }

  void read_meta(ondemand::object meta, envelope& env) const {
    for_each_field(meta, [&](std::string_view key, ondemand::value v) {
      if (key == "progressToken") {
        if (!read_id(v, env.progress_token)) {
          env.kind = message_kind::invalid;
          env.problem = "params._meta.progressToken must be a string or an integer";
          env.problem_code = invalid_params;
        }
      } else if (key == "traceparent" || key == "tracestate") {
        // Not a string: not trace context; the gateway leaves it alone.
        std::string_view raw = v.raw_json_token();
        json_string ignored;
        if (read_string(v, ignored)) {
          (key == "traceparent" ? env.traceparent : env.tracestate) = token_of(raw);
        }
      }
    });
  }

  void read_params(ondemand::object params, envelope& env) const {
    for_each_field(params, [&](std::string_view key, ondemand::value v) {
      if (key == "name" || key == "uri") {
        json_string& into = key == "name" ? env.name : env.uri;
        // A repeated key is read differently by different JSON parsers: refused, so that the
        // gateway's policy and the backend always see the same name.
        if (into.view.data() != nullptr || into.escaped) {
          env.kind = message_kind::invalid;
          env.problem = "params." + std::string(key) + " appears twice";
          env.problem_code = invalid_params;
          return;
        }
        read_string(v, into);
      } else if (key == "_meta") {
        std::string_view raw = v.raw_json_token();
        ondemand::object meta;
        if (v.get_object().get(meta) == simdjson::SUCCESS) {
          env.meta_open = token_of(raw).offset + 1;
          read_meta(meta, env);
        }
      } else if (key == "arguments") {
        // Repeated, the audit log would keep one and the backend might run the other.
        if (env.arguments.present()) {
          env.kind = message_kind::invalid;
          env.problem = "params.arguments appears twice";
          env.problem_code = invalid_params;
          return;
        }
        read_raw(v, env.arguments);
      } else if (key == "requestId") {
        read_id(v, env.request_id);
      } else if (key == "progressToken") {
        read_id(v, env.progress_token);  // notifications/progress carries it in params
      } else if (key == "protocolVersion") {
        read_string(v, env.protocol_version);
      }
    });
  }

  void read_result(ondemand::object result, envelope& env) const {
    for_each_field(result, [&](std::string_view key, ondemand::value v) {
      if (key == "protocolVersion") {
        read_string(v, env.protocol_version);
      } else if (key == "isError") {
        bool value = false;
        env.tool_error = v.get_bool().get(value) == simdjson::SUCCESS && value;
      }
    });
  }

  void read_error(ondemand::object error, envelope& env) const {
    for_each_field(error, [&](std::string_view key, ondemand::value v) {
      std::int64_t code = 0;
      if (key == "code" && v.get_int64().get(code) == simdjson::SUCCESS &&
          code >= std::numeric_limits<int>::min() && code <= std::numeric_limits<int>::max()) {
        env.error_code = static_cast<int>(code);
      } else if (key == "message") {
        read_string(v, env.error_message);
      }
    });
  }

  // Into `env`, a default envelope (the caller's: no move of the result).
  void read(ondemand::object obj, envelope& env) const {
    bool has_jsonrpc = false;
    bool has_id = false;
    bool null_id = false;
    bool has_method = false;
    bool has_result = false;
    bool has_error = false;
    std::string problem;
    for_each_field(obj, [&](std::string_view key, ondemand::value v) {
      if (key == "jsonrpc") {
        json_string version;
        has_jsonrpc = read_string(v, version) && version.str() == "2.0";
        if (!has_jsonrpc) {
          problem = "\"jsonrpc\" must be \"2.0\"";
        }
      } else if (key == "id") {
        bool is_null = false;
        if (v.is_null().get(is_null) == simdjson::SUCCESS && is_null) {
          null_id = true;
          has_id = true;
          env.id = token_of(v.raw_json_token());
        } else if (read_id(v, env.id)) {
          has_id = true;
        } else {
          problem = "\"id\" must be a string or an integer";
        }
      } else if (key == "method") {
        has_method = read_string(v, env.method);
        if (!has_method) {
          problem = "\"method\" must be a string";
        }
      } else if (key == "params") {
        ondemand::json_type type;
        if (v.type().get(type)) {
          throw syntax_failure{};
        }
        env.has_params = true;
        if (type == ondemand::json_type::object) {
          std::string_view raw = v.raw_json_token();
          ondemand::object params;
          if (v.get_object().get(params)) {
            throw syntax_failure{};
          }
          env.params_open = token_of(raw).offset + 1;
          read_params(params, env);
        } else if (type != ondemand::json_type::array) {
          problem = "\"params\" must be an object or an array";
        }
      } else if (key == "result") {
        has_result = true;
        ondemand::object result;
        if (v.get_object().get(result) == simdjson::SUCCESS) {
          read_result(result, env);
        }
      } else if (key == "error") {
        has_error = true;
        ondemand::object error;
        if (v.get_object().get(error) == simdjson::SUCCESS) {
          read_error(error, env);
        }
      }
    });
    if (env.kind == message_kind::invalid && !env.problem.empty()) {
      return;  // a problem found while reading params
    }
    if (problem.empty()) {
      if (!has_jsonrpc) {
        problem = "missing \"jsonrpc\": \"2.0\"";
      } else if (has_method) {
        if (has_result || has_error) {
          problem = "a message cannot have both \"method\" and \"result\"/\"error\"";
        } else if (null_id) {
          problem = "a request \"id\" must not be null";
        }
      } else if (!has_result && !has_error) {
        problem = "missing \"method\" (request or notification) or \"result\"/\"error\" (response)";
      } else if (has_result && has_error) {
        problem = "a response cannot have both \"result\" and \"error\"";
      } else if (!has_id) {
        problem = "a response must have an \"id\"";
      } else if (null_id && has_result) {
        problem = "a result \"id\" must not be null";
      }
    }
    if (!problem.empty()) {
      env.kind = message_kind::invalid;
      env.problem = std::move(problem);
      env.problem_code = invalid_request;
      return;
    }
    if (has_method) {
      env.kind = has_id ? message_kind::request : message_kind::notification;
    } else {
      env.kind = has_result ? message_kind::result : message_kind::error;
    }
    return;
  }

 private:
  std::string_view original_;
  const char* base_;
};

}  // namespace

struct decoder::impl {
  ondemand::parser parser;
  std::string padded;  // reused copy of the input with simdjson's padding after it

  simdjson::padded_string_view pad(std::string_view text) {
    if (padded.size() < text.size() + simdjson::SIMDJSON_PADDING) {
      padded.resize(text.size() + simdjson::SIMDJSON_PADDING);
    }
    std::memcpy(padded.data(), text.data(), text.size());
    std::memset(padded.data() + text.size(), 0, simdjson::SIMDJSON_PADDING);
    return simdjson::padded_string_view(padded.data(), text.size(), padded.size());
  }
};

#define MCPGW_NAME_OF(kernel) #kernel
#define MCPGW_KERNEL_NAME(kernel) MCPGW_NAME_OF(kernel)
std::string_view simd_kernel() { return MCPGW_KERNEL_NAME(SIMDJSON_BUILTIN_IMPLEMENTATION); }
#undef MCPGW_KERNEL_NAME
#undef MCPGW_NAME_OF

decoder::decoder() : impl_(std::make_unique<impl>()) {}
decoder::~decoder() = default;

envelope decoder::decode(std::string_view text) {
  decoded_body body = decode_body(text);
  if (body.batch) {
    envelope env;
    env.problem = "a batch is not a single message";
    env.problem_code = invalid_request;
    return env;
  }
  if (body.problem_code != 0) {
    envelope env;
    env.problem = std::move(body.problem);
    env.problem_code = body.problem_code;
    return env;
  }
  return std::move(body.single);
}

decoded_body decoder::decode_body(std::string_view text) {
  decoded_body out;
  auto fail = [&](int code, std::string problem) {
    out.problem_code = code;
    out.problem = std::move(problem);
    out.single = envelope{};
    out.single.problem_code = code;
    out.single.problem = out.problem;
    out.batch = false;
    out.elements.clear();
    return std::move(out);
  };
  if (text.size() > UINT32_MAX) {
    return fail(invalid_request, "message too large");
  }
  try {
    auto input = impl_->pad(text);
    const char* base = impl_->padded.data();
    ondemand::document doc;
    if (impl_->parser.iterate(input).get(doc)) {
      return fail(parse_error, "malformed JSON");
    }
    ondemand::json_type type;
    if (doc.type().get(type)) {
      return fail(parse_error, "malformed JSON");
    }
    object_reader reader(text, base);
    if (type == ondemand::json_type::object) {
      ondemand::object obj;
      if (doc.get_object().get(obj)) {
        return fail(parse_error, "malformed JSON");
      }
      reader.read(obj, out.single);
    } else if (type == ondemand::json_type::array) {
      out.batch = true;
      ondemand::array arr;
      if (doc.get_array().get(arr)) {
        return fail(parse_error, "malformed JSON");
      }
      for (auto element : arr) {
        ondemand::value v;
        if (element.get(v)) {
          throw syntax_failure{};
        }
        ondemand::object obj;
        if (v.get_object().get(obj)) {
          return fail(invalid_request, "every batch element must be a JSON-RPC message object");
        }
        std::string_view raw;
        if (obj.raw_json().get(raw)) {
          throw syntax_failure{};
        }
        out.elements.push_back(reader.token_of(raw));
      }
      if (out.elements.empty()) {
        return fail(invalid_request, "an empty batch is not a JSON-RPC message");
      }
    } else {
      // Scalars: make sure they are JSON at all before calling them the wrong shape (type()
      // only looks at the first character).
      bool valid = false;
      if (type == ondemand::json_type::string) {
        std::string_view ignored;
        valid = doc.get_string().get(ignored) == simdjson::SUCCESS;
      } else if (type == ondemand::json_type::number) {
        double ignored = 0;
        valid = doc.get_double().get(ignored) == simdjson::SUCCESS;
      } else if (type == ondemand::json_type::boolean) {
        bool ignored = false;
        valid = doc.get_bool().get(ignored) == simdjson::SUCCESS;
      } else {
        bool is_null = false;
        valid = doc.is_null().get(is_null) == simdjson::SUCCESS && is_null;
      }
      const char* trailing = nullptr;
      if (!valid || doc.current_location().get(trailing) == simdjson::SUCCESS) {
        return fail(parse_error, "malformed JSON");
      }
      return fail(invalid_request, "a JSON-RPC message must be an object");
    }
    // Anything after the message (a second value, stray brackets) makes the body malformed.
    const char* trailing = nullptr;
    if (doc.current_location().get(trailing) == simdjson::SUCCESS) {
      return fail(parse_error, "malformed JSON: trailing characters after the message");
    }
  } catch (const syntax_failure&) {
    return fail(parse_error, "malformed JSON");
  }
  if (!out.batch && out.single.kind == message_kind::invalid) {
    out.problem_code = out.single.problem_code;
    out.problem = out.single.problem;
  }
  return out;
}

std::string splice(std::string_view text, token at, std::string_view replacement) {
  std::string out = buffer_pool::take();  // a finished request's buffer, when kept
  out.reserve(text.size() - at.length + replacement.size());
  out.append(text.substr(0, at.offset));
  out.append(replacement);
  out.append(text.substr(at.offset + at.length));
  return out;
}

std::string splice(std::string_view text, token a, std::string_view ra, token b,
                   std::string_view rb) {
  if (!a.present()) {
    return splice(text, b, rb);
  }
  if (!b.present()) {
    return splice(text, a, ra);
  }
  if (b.offset < a.offset) {
    std::swap(a, b);
    std::swap(ra, rb);
  }
  std::string out = buffer_pool::take();  // a finished request's buffer, when kept
  out.reserve(text.size() - a.length - b.length + ra.size() + rb.size());
  out.append(text.substr(0, a.offset));
  out.append(ra);
  out.append(text.substr(a.offset + a.length, b.offset - a.offset - a.length));
  out.append(rb);
  out.append(text.substr(b.offset + b.length));
  return out;
}

std::string splice(std::string_view text, std::span<edit> edits) {
  std::sort(edits.begin(), edits.end(),
            [](const edit& a, const edit& b) { return a.at.offset < b.at.offset; });
  std::size_t size = text.size();
  for (const auto& e : edits) {
    size += e.replacement.size() - e.at.length;
  }
  std::string out = buffer_pool::take();  // a finished request's buffer, when kept
  out.reserve(size);
  std::size_t from = 0;
  for (const auto& e : edits) {
    out.append(text.substr(from, e.at.offset - from));
    out.append(e.replacement);
    from = e.at.offset + e.at.length;
  }
  out.append(text.substr(from));
  return out;
}

namespace {

// Bytes JSON cannot take as they are inside a string: control characters, '"' and '\\'.
constexpr std::array<bool, 256> needs_escape = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 0x20; ++c) {
    table[c] = true;
  }
  table['"'] = true;
  table['\\'] = true;
  return table;
}();

// How many leading bytes of `text` JSON takes as they are: up to the first control character,
// '"' or '\\'. Sixteen bytes at a time with SSE2, the last sixteen overlapping the ones
// before; a string shorter than that a byte at a time by table. Most strings (ids, names,
// URIs) need no escape at all, and most are short: the audit record quotes a dozen a request.
std::size_t clean_prefix(std::string_view text) {
  const std::size_t n = text.size();
  std::size_t clean = 0;
#if defined(__SSE2__)
  if (n >= 16) {
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i last_control = _mm_set1_epi8(0x1f);
    const auto specials = [&](std::size_t at) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + at));
      const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, last_control), v);  // v <= 0x1f
      return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(
          control, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)))));
    };
    for (; clean + 16 <= n; clean += 16) {
      if (const unsigned mask = specials(clean); mask != 0) {
        return clean + static_cast<std::size_t>(__builtin_ctz(mask));
      }
    }
    if (clean == n) {
      return n;
    }
    // The last bytes, in the sixteen that end the text; those before `clean` were clean.
    const std::size_t at = n - 16;
    const unsigned mask = specials(at) >> (clean - at);
    return mask == 0 ? n : clean + static_cast<std::size_t>(__builtin_ctz(mask));
  }
#endif
  while (clean < n && !needs_escape[static_cast<unsigned char>(text[clean])]) {
    ++clean;
  }
  return clean;
}

// The escape of one byte that needs one, at `p`; returns the end.
char* write_escape(char* p, char c) {
  switch (c) {
    case '"':
      *p++ = '\\';
      *p++ = '"';
      return p;
    case '\\':
      *p++ = '\\';
      *p++ = '\\';
      return p;
    case '\n':
      *p++ = '\\';
      *p++ = 'n';
      return p;
    case '\r':
      *p++ = '\\';
      *p++ = 'r';
      return p;
    case '\t':
      *p++ = '\\';
      *p++ = 't';
      return p;
    default: {
      static constexpr char hex[] = "0123456789abcdef";
      const auto u = static_cast<unsigned char>(c);
      const char escaped[6] = {'\\', 'u', '0', '0', hex[u >> 4], hex[u & 0xf]};
      std::memcpy(p, escaped, sizeof escaped);
      return p + sizeof escaped;
    }
  }
}

}  // namespace

char* write_quoted(char* out, std::string_view text) {
  *out++ = '"';
  const std::size_t clean = clean_prefix(text);
  if (clean != 0) {
    std::memcpy(out, text.data(), clean);
    out += clean;
  }
  for (char c : text.substr(clean)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || c == '"' || c == '\\') {
      out = write_escape(out, c);
    } else {
      *out++ = c;
    }
  }
  *out++ = '"';
  return out;
}

void append_quoted(std::string& out, std::string_view text) {
  const std::size_t clean = clean_prefix(text);
  if (clean == text.size()) {
    out.reserve(out.size() + text.size() + 2);
    out.push_back('"');
    out.append(text);
    out.push_back('"');
    return;
  }
  out.push_back('"');
  out.append(text.substr(0, clean));
  char escaped[6];
  for (char c : text.substr(clean)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || c == '"' || c == '\\') {
      out.append(escaped, static_cast<std::size_t>(write_escape(escaped, c) - escaped));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

std::string quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_quoted(out, text);
  return out;
}

std::string make_error(std::string_view id_raw, int code, std::string_view message) {
  std::string out = R"({"jsonrpc":"2.0","id":)";
  out += id_raw.empty() ? std::string_view("null") : id_raw;
  out += R"(,"error":{"code":)";
  out += std::to_string(code);
  out += R"(,"message":)";
  out += quote(message);
  out += "}}";
  return out;
}

std::string client_capabilities(std::string_view initialize_body) {
  simdjson::padded_string padded(initialize_body);
  ondemand::parser parser;
  ondemand::document doc;
  if (parser.iterate(padded).get(doc)) {
    return "{}";
  }
  ondemand::object capabilities;
  std::string_view raw;
  if (doc["params"]["capabilities"].get_object().get(capabilities) ||
      capabilities.raw_json().get(raw)) {
    return "{}";
  }
  return std::string(raw);
}

}  // namespace mcpgw::jsonrpc
