// The audit log's tamper evidence, without I/O: each line carries its sequence number, the
// SHA-256 of the line before it ("prev") and its own ("hash"), so an edited, deleted or
// reordered line breaks the chain. The audit writer seals lines; `mcpgw audit verify` checks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::plugins::audit {

// Where a chain stands: the last line's hash and the next sequence number.
struct chain_state {
  std::string prev = std::string(64, '0');  // hex; all zeros before the first record
  std::uint64_t next_seq = 0;
};

// `fields` is the inside of a JSON object without braces (`"time":"…","method":"…"`).
// Returns the sealed line (no newline): {"seq":N,<fields>,"prev":"…","hash":"…"}, and
// advances `state`.
std::string seal(chain_state& state, std::string_view fields);
// The same line appended to `out` (the writer seals a whole batch into one buffer).
void seal_into(std::string& out, chain_state& state, std::string_view fields);

// The state after `line` (a sealed line), or nullopt when it is not one: used to continue
// a file after a restart.
std::optional<chain_state> state_after(std::string_view line);

struct verify_result {
  bool ok = true;
  std::uint64_t records = 0;
  std::string file;  // where the first break is
  std::uint64_t line = 0;
  std::string problem;
};

// Checks files that continue each other (a rotated sequence, oldest first). The first line
// of the first file may continue an older file that is not given (its seq is not 0): it is
// then taken as the anchor, and said so in `note`.
class verifier {
 public:
  // Feeds one line (without its newline). False at the first break (see result()).
  bool feed(std::string_view file, std::string_view line);
  const verify_result& result() const { return result_; }
  bool anchored_mid_chain() const { return mid_chain_; }

 private:
  bool fail(std::string_view file, std::string problem);

  verify_result result_;
  std::optional<chain_state> state_;
  std::uint64_t line_in_file_ = 0;
  std::string current_file_;
  bool mid_chain_ = false;
};

// Reads the files in order and verifies them; an unreadable file is a break too.
verify_result verify_files(const std::vector<std::string>& files, bool& mid_chain);

}  // namespace mcpgw::plugins::audit
