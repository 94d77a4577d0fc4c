// A backend that speaks the legacy HTTP+SSE transport (MCP 2024-11-05): one GET stream per
// session, opened on the configured URL, whose `endpoint` event names where to POST; every
// message from the backend, answers included, arrives on the stream. Seen by the session as a
// message_channel, like a stdio process.
#pragma once

#include "backend/http_backend.h"
#include "backend/message_channel.h"

#include <deque>
#include <memory>
#include <string>

namespace mcpgw {

class sse_channel final : public message_channel {
 public:
  // `tenant`: whose credential headers (http.tenant_headers) the channel's requests carry.
  sse_channel(http_backend& http, logger& log, std::string tenant = {});
  ~sse_channel() override;

  // Opens the stream and waits (up to http.timeout) for the endpoint event. False, with the
  // reason in `error`, when there is none.
  net::awaitable<bool> open(std::string& error);
  bool send(std::string_view message) override;
  void stop() override;
  std::string describe() const override { return http_.config().http.url; }
  // Where messages are posted (path and query), as the backend named it.
  const std::string& endpoint() const { return endpoint_; }

 private:
  std::shared_ptr<sse_channel> self() {
    return std::static_pointer_cast<sse_channel>(shared_from_this());
  }
  // The POST target for an endpoint event's data; empty (and `error` set) when it is unusable.
  std::string resolve_endpoint(std::string_view data, std::string& error) const;
  net::awaitable<void> read_loop();
  net::awaitable<void> write_loop();
  void end(std::string reason);

  http_backend& http_;
  std::string tenant_;
  logger& log_;
  std::unique_ptr<backend_exchange> stream_;
  std::string endpoint_;
  std::deque<std::string> outbox_;
  std::size_t outbox_bytes_ = 0;
  bool writing_ = false;
  bool stopping_ = false;
};

}  // namespace mcpgw
