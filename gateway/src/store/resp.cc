#include "store/resp.h"

#include <hiredis/hiredis.h>
#include <stdexcept>

namespace mcpgw {

namespace {

redis_reply convert(const redisReply& r) {
  redis_reply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = redis_reply::kind::string;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = redis_reply::kind::status;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = redis_reply::kind::error;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = redis_reply::kind::integer;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = redis_reply::kind::array;
      out.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) {
        out.elements.push_back(convert(*r.element[i]));
      }
      break;
    default:
      out.type = redis_reply::kind::nil;
      break;
  }
  return out;
}

}  // namespace

resp_pipeline::resp_pipeline() : reader_(redisReaderCreate()) {
  if (reader_ == nullptr) {
    throw std::bad_alloc();
  }
}

resp_pipeline::~resp_pipeline() { redisReaderFree(reader_); }

std::uint64_t resp_pipeline::enqueue(std::span<const std::string_view> args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  char* formatted = nullptr;
  int n = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(),
                                 lengths.data());
  if (n < 0 || formatted == nullptr) {
    throw std::bad_alloc();
  }
  output_.append(formatted, static_cast<std::size_t>(n));
  redisFreeCommand(formatted);
  waiting_.push_back(next_);
  return next_++;
}

std::string resp_pipeline::take_output() {
  std::string out;
  out.swap(output_);
  return out;
}

bool resp_pipeline::feed(std::string_view bytes,
                         const std::function<void(std::uint64_t, redis_reply&&)>& on_reply,
                         std::string& error) {
  if (!bytes.empty() && redisReaderFeed(reader_, bytes.data(), bytes.size()) != REDIS_OK) {
    error = "cannot buffer the reply";
    return false;
  }
  while (true) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
      error = std::string("not a RESP reply: ") + reader_->errstr;
      return false;
    }
    if (raw == nullptr) {
      return true;  // needs more bytes
    }
    redis_reply reply = convert(*static_cast<redisReply*>(raw));
    freeReplyObject(raw);
    if (waiting_.empty()) {
      error = "a reply to no command";
      return false;
    }
    std::uint64_t number = waiting_.front();
    waiting_.pop_front();
    on_reply(number, std::move(reply));
  }
}

std::vector<std::uint64_t> resp_pipeline::reset() {
  std::vector<std::uint64_t> left(waiting_.begin(), waiting_.end());
  waiting_.clear();
  output_.clear();
  redisReaderFree(reader_);
  reader_ = redisReaderCreate();
  if (reader_ == nullptr) {
    throw std::bad_alloc();
  }
  return left;
}

}  // namespace mcpgw
