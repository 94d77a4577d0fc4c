#include "demo_rpc.h"

#include <simdjson.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <utility>

namespace mcpgw::demo {

static_assert(rpc_handler::padding >= simdjson::SIMDJSON_PADDING);

namespace {

namespace od = simdjson::ondemand;

constexpr std::array<std::string_view, 3> supported_versions{"2025-03-26", "2025-06-18",
                                                             "2025-11-25"};
constexpr std::string_view latest_version = "2025-11-25";

// The parts of a message the demo looks at. Views point into the request body (raw
// tokens) or into the parser's string buffer, so they are valid until the next parse.
struct message {
  std::string_view id;  // raw JSON token (string with quotes, or number); empty if absent
  std::string_view method;
  std::string_view tool_name;
  std::string_view text;  // raw JSON string token, copied verbatim into the echo result
  std::string_view protocol_version;
  bool has_method = false;
  bool has_result_or_error = false;
  bool bad_id = false;
  bool bad_text = false;
};

enum class parse_status { ok, parse_error, batch, not_an_object };

// simdjson's raw tokens include the whitespace that follows them.
std::string_view trim_right(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// A raw string token, validated (escapes, UTF-8) so that copying it verbatim into the
// response cannot produce invalid JSON.
bool raw_string(od::value& value, std::string_view& raw) {
  od::json_type type{};
  if (value.type().get(type) || type != od::json_type::string) {
    return false;
  }
  raw = trim_right(value.raw_json_token());
  std::string_view unescaped;
  return !value.get_string().get(unescaped);
}

bool read_id(od::value& value, message& m) {
  od::json_type type{};
  if (value.type().get(type)) {
    return false;
  }
  if (type == od::json_type::string) {
    return raw_string(value, m.id);
  }
  if (type == od::json_type::number) {
    m.id = trim_right(value.raw_json_token());
    od::number n;
    return !value.get_number().get(n);
  }
  return false;  // null, objects and arrays are not valid MCP request ids
}

// Captures every params field any method needs, because `method` may come after `params`.
bool read_params(od::value& value, message& m) {
  od::object params;
  if (value.get_object().get(params)) {
    return true;  // not an object: the method's own checks report what is missing
  }
  for (auto field_result : params) {
    od::field field;
    if (std::move(field_result).get(field)) {
      return false;
    }
    const od::raw_json_string key = field.key();
    od::value v = field.value();
    if (key == "name") {
      if (v.get_string().get(m.tool_name)) {
        m.tool_name = {};
      }
    } else if (key == "protocolVersion") {
      if (v.get_string().get(m.protocol_version)) {
        m.protocol_version = {};
      }
    } else if (key == "arguments") {
      od::object args;
      if (v.get_object().get(args)) {
        continue;
      }
      for (auto arg_result : args) {
        od::field arg;
        if (std::move(arg_result).get(arg)) {
          return false;
        }
        if (arg.key() == "text") {
          od::value text = arg.value();
          m.bad_text = !raw_string(text, m.text);
        }
      }
    }
  }
  return true;
}

void append_number(std::string& out, long value) {
  std::array<char, 24> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  out.append(buf.data(), end);
}

// Escapes text that came out of simdjson unescaped (only used on error paths).
void append_json_chars(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += c;
    }
  }
}

void begin_result(std::string& out, std::string_view id) {
  out += R"({"jsonrpc":"2.0","id":)";
  out += id;
  out += R"(,"result":)";
}

void append_error(std::string& out, std::string_view id, long code, std::string_view message,
                  std::string_view detail = {}) {
  out += R"({"jsonrpc":"2.0","id":)";
  out += id.empty() ? std::string_view{"null"} : id;
  out += R"(,"error":{"code":)";
  append_number(out, code);
  out += R"(,"message":")";
  append_json_chars(out, message);
  append_json_chars(out, detail);
  out += '"';
  out += "}}";
}

}  // namespace

std::optional<std::string_view> session_store::mint() {
  if (sessions_.size() >= max_sessions_) {
    return std::nullopt;
  }
  static constexpr char hex[] = "0123456789abcdef";
  for (;;) {
    std::string id;
    id.reserve(32);
    for (int word = 0; word < 4; ++word) {
      auto bits = static_cast<std::uint32_t>(entropy_());
      for (int nibble = 0; nibble < 8; ++nibble, bits >>= 4) {
        id += hex[bits & 0xf];
      }
    }
    auto [it, inserted] = sessions_.try_emplace(std::move(id));
    if (inserted) {
      return std::string_view{it->first};
    }
  }
}

bool session_store::erase(std::string_view id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return false;
  }
  // Listeners may call back into the store, so the entry is gone before they run.
  std::vector<session_listener*> listeners = std::move(it->second);
  sessions_.erase(it);
  for (session_listener* listener : listeners) {
    listener->on_session_closed();
  }
  return true;
}

bool session_store::add_listener(std::string_view id, session_listener& listener) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return false;
  }
  it->second.push_back(&listener);
  return true;
}

void session_store::remove_listener(std::string_view id, session_listener& listener) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return;
  }
  std::erase(it->second, &listener);
}

struct rpc_handler::impl {
  explicit impl(session_store& s) : sessions{s} {}

  parse_status parse(const std::string& body, message& m);
  post_result dispatch(const message& m, std::optional<std::string_view> session_id,
                       std::string& out);

  session_store& sessions;
  od::parser parser;
  od::document doc;
};

rpc_handler::rpc_handler(session_store& sessions) : impl_{std::make_unique<impl>(sessions)} {}
rpc_handler::~rpc_handler() = default;

parse_status rpc_handler::impl::parse(const std::string& body, message& m) {
  if (parser.iterate(body.data(), body.size(), body.capacity()).get(doc)) {
    return parse_status::parse_error;
  }
  od::json_type type{};
  if (doc.type().get(type)) {
    return parse_status::parse_error;
  }
  if (type == od::json_type::array) {
    return parse_status::batch;
  }
  if (type != od::json_type::object) {
    return parse_status::not_an_object;
  }
  od::object object;
  if (doc.get_object().get(object)) {
    return parse_status::parse_error;
  }
  for (auto field_result : object) {
    od::field field;
    if (std::move(field_result).get(field)) {
      return parse_status::parse_error;
    }
    const od::raw_json_string key = field.key();
    od::value value = field.value();
    if (key == "id") {
      m.bad_id = !read_id(value, m);
    } else if (key == "method") {
      m.has_method = !value.get_string().get(m.method);
    } else if (key == "params") {
      if (!read_params(value, m)) {
        return parse_status::parse_error;
      }
    } else if (key == "result" || key == "error") {
      m.has_result_or_error = true;
    }
  }
  // On-demand parsing stops at the closing brace; anything after it is malformed input.
  if (!doc.current_location().error()) {
    return parse_status::parse_error;
  }
  return parse_status::ok;
}

post_result rpc_handler::handle_post(const std::string& body,
                                     std::optional<std::string_view> session_id, std::string& out) {
  out.clear();
  message m;
  switch (impl_->parse(body, m)) {
    case parse_status::ok:
      break;
    case parse_status::parse_error:
      append_error(out, {}, -32700, "Parse error");
      return {post_outcome::bad_request, {}};
    case parse_status::batch:
      append_error(out, {}, -32600, "Invalid Request: batches are not supported");
      return {post_outcome::bad_request, {}};
    case parse_status::not_an_object:
      append_error(out, {}, -32600, "Invalid Request");
      return {post_outcome::bad_request, {}};
  }
  return impl_->dispatch(m, session_id, out);
}

post_result rpc_handler::impl::dispatch(const message& m,
                                        std::optional<std::string_view> session_id,
                                        std::string& out) {
  if (m.bad_id || (!m.has_method && (!m.has_result_or_error || m.id.empty()))) {
    append_error(out, {}, -32600, "Invalid Request");
    return {post_outcome::bad_request, {}};
  }
  if (m.method == "initialize" && !m.id.empty()) {
    const auto minted = sessions.mint();
    if (!minted) {
      append_error(out, m.id, -32000, "Too many sessions");
      return {post_outcome::unavailable, {}};
    }
    std::string_view version = latest_version;
    for (const std::string_view v : supported_versions) {
      if (v == m.protocol_version) {
        version = v;
      }
    }
    begin_result(out, m.id);
    out += R"({"protocolVersion":")";
    out += version;
    out += R"(","capabilities":{"tools":{}},)"
           R"("serverInfo":{"name":"mcpgw-demo-backend","version":"0.1.0"}}})";
    return {post_outcome::response, minted};
  }
  if (!session_id) {
    append_error(out, {}, -32000, "Bad Request: Mcp-Session-Id header is required");
    return {post_outcome::session_missing, {}};
  }
  if (!sessions.contains(*session_id)) {
    append_error(out, {}, -32001, "Session not found");
    return {post_outcome::session_unknown, {}};
  }
  // Notifications (no id) and the client's responses to server requests.
  if (!m.has_method || m.id.empty()) {
    return {post_outcome::accepted, {}};
  }
  if (m.method == "tools/call") {
    if (m.tool_name != "echo") {
      append_error(out, m.id, -32602, "Unknown tool: ", m.tool_name);
    } else if (m.bad_text) {
      append_error(out, m.id, -32602, "Invalid params: text must be a string");
    } else {
      begin_result(out, m.id);
      out += R"({"content":[{"type":"text","text":)";
      out += m.text.empty() ? std::string_view{R"("")"} : m.text;
      out += "}]}}";
    }
  } else if (m.method == "ping") {
    begin_result(out, m.id);
    out += "{}}";
  } else if (m.method == "tools/list") {
    begin_result(out, m.id);
    out += R"({"tools":[{"name":"echo","description":"Returns the text argument unchanged.",)"
           R"("inputSchema":{"type":"object","properties":{"text":{"type":"string"}}}}]}})";
  } else {
    append_error(out, m.id, -32601, "Method not found");
  }
  return {post_outcome::response, {}};
}

}  // namespace mcpgw::demo
