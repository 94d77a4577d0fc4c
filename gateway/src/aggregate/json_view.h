// The few places in MCP messages an aggregated route rewrites, found by offset in the text
// (simdjson on-demand) so that everything else is forwarded byte for byte: the items of a list
// page, an item's name or URI, a request's params.name / params.uri / params.ref, and the
// resource URIs inside results.
#pragma once

#include "mcpgw/jsonrpc.h"

#include <simdjson.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::aggregate {

// A string in the text: its token (quotes included) and its unescaped value.
struct string_at {
  jsonrpc::token at;
  std::string value;
};

struct list_page {
  std::vector<std::string_view> items;  // each item's JSON text, a view of the response
  std::optional<std::string> next_cursor;
};

// The parts of an initialize result an aggregated route keeps.
struct server_info {
  std::string capabilities;      // result.capabilities as JSON ("{}" when absent)
  std::string protocol_version;  // result.protocolVersion
  std::string instructions;      // result.instructions (unescaped), may be empty
};

class json_view {
 public:
  // result.<key> of a list response; nullopt when the response is not one.
  std::optional<list_page> page(std::string_view response, std::string_view key);
  // A top-level string member of an object (an item's "name").
  std::optional<string_at> member(std::string_view object, std::string_view key);
  // params.<key> of a request, a string.
  std::optional<string_at> param(std::string_view message, std::string_view key);
  // params.ref.<key> of completion/complete, a string.
  std::optional<string_at> ref(std::string_view message, std::string_view key);
  // Every "uri" string under result (not inside structuredContent or _meta): the resources
  // a tool result, a prompt or a resources/read answer carries.
  std::vector<string_at> result_uris(std::string_view response);
  std::optional<server_info> initialize_result(std::string_view response);

 private:
  simdjson::padded_string_view pad(std::string_view text);
  std::optional<string_at> string_token(simdjson::ondemand::value value);

  simdjson::ondemand::parser parser_;
  std::string padded_;
  const char* base_ = nullptr;
};

}  // namespace mcpgw::aggregate
