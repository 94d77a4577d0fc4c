#include "method_filter/method_filter.h"

#include "mcpgw/glob.h"

namespace mcpgw::plugins {

bool method_filter::refuses(std::string_view method) const {
  return glob_match_any(config_.deny, method);
}

std::optional<filter_status> method_filter::try_request(message_context& ctx) {
  if (ctx.kind == jsonrpc::message_kind::result || ctx.kind == jsonrpc::message_kind::error ||
      !refuses(ctx.method)) {
    return filter_status::next;
  }
  ++stats_.refused;
  ctx.reply.code = jsonrpc::method_not_found;
  ctx.reply.message = config_.message + " (" + std::string(ctx.method) + ")";
  return filter_status::stop;
}

net::awaitable<filter_status> method_filter::on_request(message_context& ctx) {
  co_return *try_request(ctx);
}

void method_filter::on_complete(const request_record&) { ++stats_.completed; }

}  // namespace mcpgw::plugins
