#include "method_filter/config.h"

#include "method_filter/method_filter.h"

#include "config/parser.h"

#include <array>

namespace mcpgw::plugins {
namespace {

constexpr std::array<std::string_view, 2> keys{"deny", "message"};

class factory final : public filter_factory {
 public:
  explicit factory(method_filter_config config) : config_(std::move(config)) {}
  std::unique_ptr<filter> create(const filter_services&) const override {
    return std::make_unique<method_filter>(config_);
  }

 private:
  method_filter_config config_;
};

}  // namespace

std::shared_ptr<const filter_factory> parse_method_filter(config_detail::parser& p,
                                                          const config_detail::field& at) {
  const auto map = p.read_map(at, keys, "a map like { deny: [\"resources/*\"] }");
  if (!map) {
    return nullptr;
  }
  method_filter_config out;
  if (const auto* deny = map->get("deny")) {
    auto globs = p.read_strings(*deny, "a list of method globs, like [\"resources/*\"]");
    if (!globs) {
      return nullptr;
    }
    out.deny = std::move(*globs);
  } else {
    p.missing(*map, "deny", "expected the methods to refuse, like [\"resources/*\"]");
    return nullptr;
  }
  if (const auto* message = map->get("message")) {
    out.message = p.read_scalar(*message, "a message for the refused client").value_or(out.message);
  }
  return std::make_shared<factory>(std::move(out));
}

}  // namespace mcpgw::plugins
