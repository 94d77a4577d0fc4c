#include "audit/audit_log.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <pthread.h>
#include <sched.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace mcpgw::plugins::audit {
namespace {

// The last complete line of a file, or "" when it has none.
std::string last_line(const std::string& file, bool& torn) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  torn = false;
  if (!in) {
    return {};
  }
  const std::streamoff size = in.tellg();
  if (size <= 0) {
    return {};
  }
  // Records are small: the last 1 MiB holds the last line.
  const std::streamoff start = size > (1 << 20) ? size - (1 << 20) : 0;
  in.seekg(start);
  std::string tail(static_cast<std::size_t>(size - start), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  torn = !tail.empty() && tail.back() != '\n';
  if (torn) {
    tail.erase(tail.rfind('\n') == std::string::npos ? 0 : tail.rfind('\n') + 1);
  }
  if (!tail.empty() && tail.back() == '\n') {
    tail.pop_back();
  }
  const std::size_t nl = tail.rfind('\n');
  return nl == std::string::npos ? tail : tail.substr(nl + 1);
}

std::string utc_stamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

audit_log::audit_log(log_settings settings, logger& log)
    : settings_(std::move(settings)), log_(log) {
  if (!settings_.file.empty()) {
    bool torn = false;
    std::string last = last_line(settings_.file, torn);
    if (!last.empty()) {
      auto state = state_after(last);
      if (!state) {
        throw std::runtime_error("audit.file " + settings_.file +
                                 ": its last record is not a sealed audit record; check it with "
                                 "`mcpgw audit verify` and move it aside");
      }
      chain_ = *state;
    }
    open_file();
    if (torn) {
      // A crash mid-write left half a line: it is closed off so the next record starts clean,
      // and verify names it.
      write_out("\n");
      log_.warn("audit file ended in a partial record (a crash mid-write?)",
                {{"file", settings_.file}});
    }
  }
  last_sync_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { run(); });
}

audit_log::~audit_log() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);
  }
}

void audit_log::open_file() {
  fd_ = ::open(settings_.file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    throw std::runtime_error("audit.file " + settings_.file +
                             ": cannot open for appending: " + std::strerror(errno));
  }
  struct stat st {};
  file_bytes_ = ::fstat(fd_, &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
  opened_at_ = std::chrono::steady_clock::now();
}

void audit_log::push(std::string_view fields) {
  {
    std::lock_guard lock(mutex_);
    queue_.append(fields);
    queue_.push_back('\n');
    ++queued_;
    ++pushed_;
  }
  depth_.fetch_add(1, std::memory_order_relaxed);
  wake_.notify_one();
}

void audit_log::flush() {
  std::unique_lock lock(mutex_);
  const std::uint64_t target = pushed_;
  drained_.wait(lock, [&] { return done_ >= target; });
}

bool audit_log::write_out(std::string_view bytes) {
  bool ok = true;
  if (fd_ >= 0) {
    std::size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::write(fd_, bytes.data() + off, bytes.size() - off);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        ++stats_.write_errors;
        ok = false;
        log_.error("audit write failed",
                   {{"file", settings_.file}, {"error", std::strerror(errno)}});
        break;
      }
      off += static_cast<std::size_t>(n);
    }
    file_bytes_ += bytes.size();
  }
  if (settings_.stdout_sink) {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fflush(stdout);
  }
  return ok;
}

void audit_log::sync() {
  if (fd_ >= 0 && unsynced_ > 0) {
    // fdatasync: the records and what reading them back needs (the file's new size) reach
    // the disk, as with fsync; only timestamps are left to the file system's own pace.
    ::fdatasync(fd_);
    ++stats_.fsyncs;
  }
  unsynced_ = 0;
  last_sync_ = std::chrono::steady_clock::now();
}

void audit_log::rotate() {
  sync();
  ::close(fd_);
  fd_ = -1;
  // <file>.<UTC time>-<first seq of the next file>: unique, and in order when sorted by name.
  char seq[24];
  std::snprintf(seq, sizeof seq, "%012llu", static_cast<unsigned long long>(chain_.next_seq));
  const std::string rotated = settings_.file + "." + utc_stamp() + "-" + seq;
  std::error_code ec;
  std::filesystem::rename(settings_.file, rotated, ec);
  if (ec) {
    log_.error("audit rotation failed", {{"file", settings_.file}, {"error", ec.message()}});
  } else {
    ++stats_.rotations;
    log_.info("audit file rotated", {{"file", settings_.file}, {"to", rotated}});
  }
  // The chain goes on in the new file: verify the rotated files and this one in order.
  try {
    open_file();
  } catch (const std::exception& e) {
    log_.error("audit file cannot be reopened", {{"error", e.what()}});
  }
}

void audit_log::run() {
  using clock = std::chrono::steady_clock;
  // A batch thread: its wake-ups (records queued, an fsync's I/O done) do not preempt the
  // event loop, which would otherwise be switched out several times per fsync. It still gets
  // its fair share of the CPU, and the filter's back-pressure covers a writer that falls behind.
  sched_param no_priority{};
  ::pthread_setschedparam(::pthread_self(), SCHED_BATCH, &no_priority);
  std::unique_lock lock(mutex_);
  for (;;) {
    if (queued_ == 0 && !stopping_) {
      if (settings_.fsync_every.count() > 0 && unsynced_ > 0) {
        wake_.wait_until(lock, last_sync_ + settings_.fsync_every);
      } else {
        wake_.wait(lock);
      }
    }
    in_.clear();
    in_.swap(queue_);
    const std::size_t count = queued_;
    queued_ = 0;
    const bool stop = stopping_ && count == 0;
    lock.unlock();
    // The batch is sealed into one buffer and written with one call: a write per record
    // cost a system call each and, on a file under writeback, a wait for the page each.
    std::size_t sealed = 0;
    const auto write_sealed = [&] {
      if (sealed > 0) {
        write_out(out_);
        unsynced_ += sealed;
        stats_.written += sealed;
      }
      out_.clear();
      sealed = 0;
    };
    for (std::size_t at = 0; at < in_.size();) {
      const std::size_t end = std::min(in_.find('\n', at), in_.size());
      const std::string_view fields = std::string_view(in_).substr(at, end - at);
      at = end + 1;
      const bool rotate_now =
          fd_ >= 0 &&
          ((settings_.rotate_size > 0 && file_bytes_ + out_.size() >= settings_.rotate_size) ||
           (settings_.rotate_every.count() > 0 &&
            clock::now() - opened_at_ >= settings_.rotate_every));
      if (rotate_now) {
        write_sealed();
        rotate();
      }
      seal_into(out_, chain_, fields);
      out_ += '\n';
      ++sealed;
    }
    write_sealed();
    for (std::string* buffer : {&out_, &in_}) {
      if (buffer->capacity() > (std::size_t{4} << 20)) {
        buffer->clear();
        buffer->shrink_to_fit();  // a burst does not pin its buffers for ever
      }
    }
    // Group commit: the records that queued up while the last fsync ran are written, then
    // synced together. A record waits for no more than one fsync, whatever the rate, and the
    // writer keeps up with the event loop instead of paying one fsync per record.
    if ((settings_.fsync_every_records > 0 && unsynced_ >= settings_.fsync_every_records) ||
        (settings_.fsync_every.count() > 0 && clock::now() - last_sync_ >= settings_.fsync_every)) {
      sync();
    }
    depth_.fetch_sub(count, std::memory_order_relaxed);
    lock.lock();
    done_ += count;
    drained_.notify_all();
    if (stop) {
      return;
    }
  }
}

}  // namespace mcpgw::plugins::audit
