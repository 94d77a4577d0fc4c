#include "mcpgw/sse.h"

#include <charconv>

namespace mcpgw::sse {

void append_event(std::string& out, std::string_view id, std::string_view data,
                  std::optional<unsigned> retry_ms, std::string_view type) {
  if (!type.empty() && type != "message") {
    out += "event: ";
    out += type;
    out += '\n';
  } else if (!data.empty()) {
    out += "event: message\n";
  }
  if (!id.empty()) {
    out += "id: ";
    out += id;
    out += '\n';
  }
  if (retry_ms) {
    out += "retry: ";
    out += std::to_string(*retry_ms);
    out += '\n';
  }
  // Split on any line terminator: a raw CR or LF inside data would end the field early.
  // JSON-RPC messages almost never hold one (inside strings they are escaped), so look for
  // both with memchr first: find_first_of would test every byte against the set.
  if (data.find('\n') == std::string_view::npos && data.find('\r') == std::string_view::npos) {
    out.reserve(out.size() + data.size() + 8);
    out += "data: ";
    out += data;
    out += "\n\n";
    return;
  }
  std::size_t start = 0;
  while (true) {
    std::size_t end = data.find_first_of("\r\n", start);
    out += "data: ";
    out.append(data.substr(start, end == std::string_view::npos ? end : end - start));
    out += '\n';
    if (end == std::string_view::npos) {
      break;
    }
    start = end + ((data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n') ? 2 : 1);
  }
  out += '\n';
}

void append_comment(std::string& out, std::string_view text) {
  out += ": ";
  out += text;
  out += "\n\n";
}

decode_status decoder::next(event& out) {
  while (true) {
    std::string_view rest(buffer_.data() + pos_, buffer_.size() - pos_);
    std::size_t eol = rest.find_first_of("\r\n", scanned_);
    if (eol == std::string_view::npos) {
      if (rest.size() > max_event_size_) {
        return decode_status::too_large;
      }
      scanned_ = rest.size();
      // Compact consumed bytes so the buffer does not grow with the stream.
      if (pos_ > 0) {
        buffer_.erase(0, pos_);
        pos_ = 0;
      }
      return decode_status::need_more;
    }
    // A CR at the very end may be the first half of CRLF: wait for the next byte.
    if (rest[eol] == '\r' && eol + 1 == rest.size()) {
      scanned_ = eol;
      return decode_status::need_more;
    }
    std::size_t consumed = eol + ((rest[eol] == '\r' && rest[eol + 1] == '\n') ? 2 : 1);
    std::string_view line = rest.substr(0, eol);
    pos_ += consumed;
    scanned_ = 0;
    if (!seen_first_line_) {
      seen_first_line_ = true;
      if (line.substr(0, 3) == "\xEF\xBB\xBF") {
        line.remove_prefix(3);
      }
    }
    if (line.empty()) {
      if (pending_has_fields_) {
        out = std::move(pending_);
        pending_ = event{};
        pending_has_data_ = false;
        pending_has_fields_ = false;
        return decode_status::event_ready;
      }
      continue;
    }
    if (line.front() == ':') {
      ++comments_;
      continue;  // comment
    }
    std::size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
      }
    }
    if (field == "data") {
      if (pending_has_data_) {
        pending_.data += '\n';
      }
      pending_.data.append(value);
      pending_has_data_ = true;
      pending_has_fields_ = true;
      if (pending_.data.size() > max_event_size_) {
        return decode_status::too_large;
      }
    } else if (field == "id") {
      if (value.find('\0') == std::string_view::npos) {
        pending_.id.assign(value);
        pending_.has_id = true;
        pending_has_fields_ = true;
      }
    } else if (field == "event") {
      pending_.type.assign(value);
      pending_has_fields_ = true;
    } else if (field == "retry") {
      unsigned ms = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
      if (ec == std::errc() && ptr == value.data() + value.size() && !value.empty()) {
        pending_.retry_ms = ms;
        pending_has_fields_ = true;
      }
    }
  }
}

}  // namespace mcpgw::sse
