// The audit log's writer: records queue up on the event loop and a thread of their own seals,
// writes, fsyncs and rotates them, so a slow disk never stalls the gateway. The queue is
// bounded at admission (the filter waits or refuses new requests when it is full); a record of
// an admitted request is always taken, so nothing is dropped.
#pragma once

#include "audit/audit_chain.h"

#include "mcpgw/config.h"
#include "mcpgw/log.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace mcpgw::plugins::audit {

struct log_settings {
  std::string file;  // empty: stdout only
  bool stdout_sink = false;
  std::size_t fsync_every_records = 1;  // 0: not by count
  duration fsync_every{0};              // 0: not by time
  std::size_t queue = 10000;
  std::size_t rotate_size = 0;  // bytes; 0: never
  duration rotate_every{0};     // 0: never
};

class audit_log {
 public:
  // Opens (appends to) the file and continues its chain. Throws std::runtime_error naming the
  // file when it cannot be opened or its last record is not sealed.
  audit_log(log_settings settings, logger& log);
  // Writes everything queued, fsyncs and stops the thread.
  ~audit_log();
  audit_log(const audit_log&) = delete;
  audit_log& operator=(const audit_log&) = delete;

  // Room for one more admitted request's record.
  bool has_room() const { return depth_.load(std::memory_order_relaxed) < settings_.queue; }
  // Queues one record (the inside of its JSON object, without a newline); never refused.
  // Copied into the queue's buffer: no allocation per record once the buffers have grown.
  void push(std::string_view fields);

  struct counters {
    std::atomic<std::uint64_t> written{0};
    std::atomic<std::uint64_t> fsyncs{0};
    std::atomic<std::uint64_t> rotations{0};
    std::atomic<std::uint64_t> write_errors{0};
  };
  const counters& stats() const { return stats_; }
  std::size_t depth() const { return depth_.load(std::memory_order_relaxed); }
  // Blocks until every record queued so far is written (tests and shutdown).
  void flush();

 private:
  void run();
  // Writes `bytes` (whole lines) to the file and the stdout sink; false when the file write
  // failed (counted and logged).
  bool write_out(std::string_view bytes);
  void sync();
  void rotate();
  void open_file();

  log_settings settings_;
  logger& log_;
  chain_state chain_;
  int fd_ = -1;
  std::size_t file_bytes_ = 0;
  std::chrono::steady_clock::time_point opened_at_;
  std::size_t unsynced_ = 0;
  std::chrono::steady_clock::time_point last_sync_;
  std::string out_;  // the batch being sealed: one write per batch, not per record

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  // Records waiting for the writer, each followed by '\n' (a record is JSON without raw
  // newlines); the writer swaps it with `in_` and seals from there, so the two buffers
  // take turns and keep their capacity.
  std::string queue_;
  std::size_t queued_ = 0;
  std::string in_;
  std::uint64_t pushed_ = 0;
  std::uint64_t done_ = 0;
  bool stopping_ = false;
  std::atomic<std::size_t> depth_{0};
  counters stats_;
  std::thread thread_;
};

}  // namespace mcpgw::plugins::audit
