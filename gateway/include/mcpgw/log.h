// Structured logging: one JSON object per line on stderr (time, level, msg, fields).
// The logger is passed in (no global); components keep a reference.
#pragma once

#include <cstdio>
#include <initializer_list>
#include <string_view>
#include <utility>

namespace mcpgw {

enum class log_level { debug, info, warn, error };

bool parse_log_level(std::string_view text, log_level& out);

class logger {
 public:
  using field = std::pair<std::string_view, std::string_view>;

  explicit logger(log_level level, std::FILE* out = stderr) : level_(level), out_(out) {}

  bool enabled(log_level level) const { return level >= level_; }
  void write(log_level level, std::string_view msg, std::initializer_list<field> fields = {});

  void debug(std::string_view msg, std::initializer_list<field> fields = {}) {
    if (enabled(log_level::debug)) {
      write(log_level::debug, msg, fields);
    }
  }
  void info(std::string_view msg, std::initializer_list<field> fields = {}) {
    write(log_level::info, msg, fields);
  }
  void warn(std::string_view msg, std::initializer_list<field> fields = {}) {
    write(log_level::warn, msg, fields);
  }
  void error(std::string_view msg, std::initializer_list<field> fields = {}) {
    write(log_level::error, msg, fields);
  }

 private:
  log_level level_;
  std::FILE* out_;
};

}  // namespace mcpgw
