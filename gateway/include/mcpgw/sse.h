// Server-Sent Events codec (sans-I/O): the encoder writes events onto a client stream, the
// decoder reads a backend's stream incrementally. Used by the Streamable HTTP relay both ways.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgw::sse {

struct event {
  std::string id;
  bool has_id = false;  // an empty "id:" line resets the last event id
  std::string type;     // "event:" field; empty means "message"
  std::string data;     // data lines joined with '\n'
  std::optional<unsigned> retry_ms;
};

// Appends one event. Multi-line data is split into several data: lines, as the format requires.
void append_event(std::string& out, std::string_view id, std::string_view data,
                  std::optional<unsigned> retry_ms = std::nullopt,
                  std::string_view type = "message");
// A comment line (keep-alive); clients ignore it.
void append_comment(std::string& out, std::string_view text);

enum class decode_status { need_more, event_ready, too_large };

// Incremental decoder. Feed bytes as they arrive; call next() until need_more.
class decoder {
 public:
  explicit decoder(std::size_t max_event_size) : max_event_size_(max_event_size) {}

  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // Produces the next complete event into `out`. Events with no data (and no retry) are
  // still produced when they carry an id, so a relay can remember the priming event's id.
  decode_status next(event& out);
  std::size_t buffered() const { return buffer_.size() - pos_; }
  // Comment lines (keep-alives) read so far: a relay passes them on to learn early when its
  // own client is gone.
  std::size_t comments() const { return comments_; }

 private:
  std::string buffer_;
  std::size_t pos_ = 0;
  // How far past pos_ the current (unterminated) line was already searched for a line end,
  // so a large event arriving in many reads is scanned once, not once per read.
  std::size_t scanned_ = 0;
  std::size_t max_event_size_;
  event pending_;
  bool pending_has_data_ = false;
  bool pending_has_fields_ = false;
  bool seen_first_line_ = false;
  std::size_t comments_ = 0;
};

}  // namespace mcpgw::sse
