#include "mcpgw/log.h"

#include "mcpgw/jsonrpc.h"

#include <chrono>
#include <ctime>
#include <string>

namespace mcpgw {

bool parse_log_level(std::string_view text, log_level& out) {
  if (text == "debug") {
    out = log_level::debug;
  } else if (text == "info") {
    out = log_level::info;
  } else if (text == "warn") {
    out = log_level::warn;
  } else if (text == "error") {
    out = log_level::error;
  } else {
    return false;
  }
  return true;
}

void logger::write(log_level level, std::string_view msg, std::initializer_list<field> fields) {
  if (!enabled(level)) {
    return;
  }
  static constexpr std::string_view names[] = {"debug", "info", "warn", "error"};
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line = R"({"time":")";
  line += stamp;
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(millis.count()));
  line += ms;
  line += R"(","level":")";
  line += names[static_cast<int>(level)];
  line += R"(","msg":)";
  line += jsonrpc::quote(msg);
  for (const auto& [key, value] : fields) {
    line += ',';
    line += jsonrpc::quote(key);
    line += ':';
    line += jsonrpc::quote(value);
  }
  line += "}\n";
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace mcpgw
