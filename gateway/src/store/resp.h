// RESP, the Redis protocol, without I/O: commands formatted and replies parsed by hiredis's
// formatter and reader, and the pipeline's books (which reply answers which command).
// Driven by redis_client over a socket; unit-tested with bytes.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;

namespace mcpgw {

struct redis_reply {
  enum class kind { nil, integer, string, status, error, array };
  kind type = kind::nil;
  long long integer = 0;
  std::string str;  // string, status and error replies
  std::vector<redis_reply> elements;

  bool is_error() const { return type == kind::error; }
};

// The commands sent on one connection and the replies read back, in order (Redis answers a
// pipeline in the order it was sent).
class resp_pipeline {
 public:
  resp_pipeline();
  ~resp_pipeline();
  resp_pipeline(const resp_pipeline&) = delete;
  resp_pipeline& operator=(const resp_pipeline&) = delete;

  // Appends a command to the bytes to send; returns its number (replies come back in number
  // order).
  std::uint64_t enqueue(std::span<const std::string_view> args);
  // The bytes not yet handed to the socket (moved out: the caller writes them).
  std::string take_output();
  bool has_output() const { return !output_.empty(); }
  // Commands sent or queued whose replies have not come back.
  std::size_t waiting() const { return waiting_.size(); }

  // Parses what the socket read; calls on_reply(number, reply) for every complete reply.
  // False (with `error` set) when the bytes are not RESP or answer nothing that was sent:
  // the connection must be closed.
  bool feed(std::string_view bytes,
            const std::function<void(std::uint64_t, redis_reply&&)>& on_reply, std::string& error);

  // Forgets everything (the connection closed); returns the numbers left unanswered.
  std::vector<std::uint64_t> reset();

 private:
  redisReader* reader_;
  std::string output_;
  std::deque<std::uint64_t> waiting_;
  std::uint64_t next_ = 1;
};

}  // namespace mcpgw
