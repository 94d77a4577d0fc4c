#include "audit/config.h"

#include "audit/audit_filter.h"

#include "config/parser.h"

#include <array>

namespace mcpgw::plugins::audit {
namespace {

constexpr std::array<std::string_view, 8> audit_keys{"file",    "stdout",   "fsync",  "queue",
                                                     "on_full", "max_wait", "rotate", "redact"};
constexpr std::array<std::string_view, 2> fsync_keys{"every_records", "every"};
constexpr std::array<std::string_view, 2> rotate_keys{"size", "every"};

class factory final : public filter_factory {
 public:
  explicit factory(audit_config config) : config_(std::move(config)) {}
  std::unique_ptr<filter> create(const filter_services& services) const override {
    return std::make_unique<audit_filter>(config_, services, this);
  }

 private:
  audit_config config_;
};

}  // namespace

std::shared_ptr<const filter_factory> parse_audit(config_detail::parser& p,
                                                  const config_detail::field& at) {
  const auto map = p.read_map(at, audit_keys, "a map like { file: audit.jsonl }");
  if (!map) {
    return nullptr;
  }
  audit_config out;
  if (const auto* file = map->get("file")) {
    p.read_file_name(*file, out.log.file);
  }
  if (const auto* sink = map->get("stdout")) {
    p.read_bool(*sink, out.log.stdout_sink);
  }
  if (out.log.file.empty() && !out.log.stdout_sink) {
    p.missing(*map, "file", "records need a sink: file: audit.jsonl, or stdout: true");
  }
  if (const auto* fsync = map->get("fsync")) {
    if (const auto f = p.read_map(*fsync, fsync_keys, "a map like { every_records: 1 }")) {
      out.log.fsync_every_records = 0;
      if (const auto* n = f->get("every_records")) {
        out.log.fsync_every_records = p.read_count(*n).value_or(1);
      }
      if (const auto* t = f->get("every")) {
        p.read_duration(*t, out.log.fsync_every, config_detail::zero_policy::reject);
      }
      if (out.log.fsync_every_records == 0 && out.log.fsync_every.count() == 0) {
        p.error(*fsync,
                "expected every_records (> 0) or every, or both; without either the "
                "records would only reach the disk when the kernel decides");
      }
    }
  }
  if (const auto* queue = map->get("queue")) {
    p.read_size(*queue, out.log.queue, value_kind::count);
  }
  if (const auto* full = map->get("on_full")) {
    if (auto text = p.read_scalar(*full, "wait or reject")) {
      if (*text == "wait") {
        out.on_full = when_full::wait;
      } else if (*text == "reject") {
        out.on_full = when_full::reject;
      } else {
        p.error(*full, "expected wait or reject, got " + quote_value(*text));
      }
    }
  }
  if (const auto* wait = map->get("max_wait")) {
    p.read_duration(*wait, out.max_wait, config_detail::zero_policy::reject);
  }
  if (const auto* rotate = map->get("rotate")) {
    if (const auto r =
            p.read_map(*rotate, rotate_keys, "a map like { size: 100MiB, every: 24h }")) {
      if (const auto* size = r->get("size")) {
        p.read_size(*size, out.log.rotate_size, value_kind::size);
      }
      if (const auto* every = r->get("every")) {
        p.read_duration(*every, out.log.rotate_every, config_detail::zero_policy::reject);
      }
    }
    if (out.log.file.empty()) {
      p.error(*rotate, "rotation needs a file");
    }
  }
  if (const auto* redact = map->get("redact")) {
    out.redaction.paths =
        p.read_strings(*redact, "a list of argument paths, like [password, auth.token]")
            .value_or(out.redaction.paths);
  }
  return std::make_shared<factory>(std::move(out));
}

}  // namespace mcpgw::plugins::audit
