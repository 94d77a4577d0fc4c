#include "audit/audit_chain.h"

#include "auth/api_keys.h"

#include "mcpgw/hex.h"

#include <charconv>
#include <fstream>

namespace mcpgw::plugins::audit {
namespace {

constexpr std::string_view hash_key = ",\"hash\":\"";
constexpr std::string_view prev_key = ",\"prev\":\"";
constexpr std::string_view seq_key = "{\"seq\":";

bool is_hex64(std::string_view text) {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

struct parsed_line {
  std::uint64_t seq = 0;
  std::string_view prev;
  std::string_view hash;
  std::string_view sealed_part;  // what the hash covers
};

// The chain fields of a sealed line; nullopt (with why) when the line is not one.
std::optional<parsed_line> parse(std::string_view line, std::string& why) {
  parsed_line out;
  constexpr std::size_t hash_tail = 64 + 2;  // 64 hex digits, then "}
  if (line.size() < seq_key.size() + prev_key.size() + hash_key.size() + 64 + hash_tail ||
      !line.starts_with(seq_key) || !line.ends_with("\"}")) {
    why = "not a sealed audit record";
    return std::nullopt;
  }
  const std::size_t hash_at = line.size() - hash_tail - hash_key.size();
  if (line.substr(hash_at, hash_key.size()) != hash_key) {
    why = "no hash at the end of the record";
    return std::nullopt;
  }
  out.hash = line.substr(hash_at + hash_key.size(), 64);
  out.sealed_part = line.substr(0, hash_at);
  const std::size_t prev_at = hash_at - 64 - 1 - prev_key.size();
  if (hash_at < 64 + 1 + prev_key.size() || line.substr(prev_at, prev_key.size()) != prev_key ||
      line[hash_at - 1] != '"') {
    why = "no prev before the hash";
    return std::nullopt;
  }
  out.prev = line.substr(prev_at + prev_key.size(), 64);
  if (!is_hex64(out.hash) || !is_hex64(out.prev)) {
    why = "prev or hash is not 64 hex digits";
    return std::nullopt;
  }
  const char* begin = line.data() + seq_key.size();
  const char* end = line.data() + line.size();
  auto [ptr, ec] = std::from_chars(begin, end, out.seq);
  if (ec != std::errc() || ptr == begin || *ptr != ',') {
    why = "no sequence number";
    return std::nullopt;
  }
  return out;
}

}  // namespace

void seal_into(std::string& out, chain_state& state, std::string_view fields) {
  // Runs on the writer thread for every record: the number and the digest are formatted on
  // the stack, and `prev` keeps its buffer.
  const std::size_t begin = out.size();
  char seq[24];
  char* seq_end = std::to_chars(seq, seq + sizeof seq, state.next_seq).ptr;
  out += seq_key;
  out.append(seq, static_cast<std::size_t>(seq_end - seq));
  out += ',';
  out += fields;
  out += prev_key;
  out += state.prev;
  out += '"';
  const sha256_digest digest = sha256_bytes(std::string_view(out).substr(begin));
  char digits[64];
  hex::write(digits, digest.data(), digest.size());
  state.prev.assign(digits, sizeof digits);
  out += hash_key;
  out.append(digits, sizeof digits);
  out += "\"}";
  ++state.next_seq;
}

std::string seal(chain_state& state, std::string_view fields) {
  std::string line;
  line.reserve(fields.size() + 180);
  seal_into(line, state, fields);
  return line;
}

std::optional<chain_state> state_after(std::string_view line) {
  std::string why;
  auto parsed = parse(line, why);
  if (!parsed || sha256_hex(parsed->sealed_part) != parsed->hash) {
    return std::nullopt;
  }
  return chain_state{std::string(parsed->hash), parsed->seq + 1};
}

bool verifier::fail(std::string_view file, std::string problem) {
  result_.ok = false;
  result_.file = std::string(file);
  result_.line = line_in_file_;
  result_.problem = std::move(problem);
  return false;
}

bool verifier::feed(std::string_view file, std::string_view line) {
  if (!result_.ok) {
    return false;
  }
  if (file != current_file_) {
    current_file_ = std::string(file);
    line_in_file_ = 0;
  }
  ++line_in_file_;
  std::string why;
  auto parsed = parse(line, why);
  if (!parsed) {
    return fail(file, why);
  }
  if (sha256_hex(parsed->sealed_part) != parsed->hash) {
    return fail(file, "the record was changed: its hash does not match its content");
  }
  if (!state_) {
    if (parsed->seq != 0) {
      mid_chain_ = true;  // continues an older file that was not given
    } else if (parsed->prev != std::string(64, '0')) {
      return fail(file, "record 0 must start the chain (prev of zeros)");
    }
  } else {
    if (parsed->seq != state_->next_seq) {
      return fail(file, "expected record " + std::to_string(state_->next_seq) + ", found record " +
                            std::to_string(parsed->seq) + " (a record was deleted or moved)");
    }
    if (parsed->prev != state_->prev) {
      return fail(file, "prev does not match the record before it (deleted, moved or changed)");
    }
  }
  state_ = chain_state{std::string(parsed->hash), parsed->seq + 1};
  ++result_.records;
  return true;
}

verify_result verify_files(const std::vector<std::string>& files, bool& mid_chain) {
  verifier v;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      verify_result r = v.result();
      r.ok = false;
      r.file = file;
      r.problem = "cannot read the file";
      return r;
    }
    std::string line;
    while (std::getline(in, line)) {
      if (!v.feed(file, line)) {
        mid_chain = v.anchored_mid_chain();
        return v.result();
      }
    }
  }
  mid_chain = v.anchored_mid_chain();
  return v.result();
}

}  // namespace mcpgw::plugins::audit
