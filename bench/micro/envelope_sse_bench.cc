// Micro-benchmarks of the per-message work on the forward path: decoding a JSON-RPC envelope
// (simdjson on-demand), splicing an id, and the SSE codec both ways. Run from the release
// build: build/release/bench/mcpgw_micro_bench. ctest runs each once, briefly, as a smoke test;
// speed is read from the numbers, never asserted.
#include "mcpgw/jsonrpc.h"
#include "mcpgw/sse.h"

#include <benchmark/benchmark.h>

#include <string>

namespace {

using namespace mcpgw;

const std::string tools_call =
    R"({"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":)"
    R"({"text":"hello from the benchmark"},"_meta":{"progressToken":"p-42"}}})";

std::string large_result(std::size_t bytes) {
  std::string out = R"({"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":")";
  out.append(bytes, 'x').append(R"("}],"isError":false}})");
  return out;
}

void BM_DecodeToolsCall(benchmark::State& state) {
  jsonrpc::decoder decoder;
  for (auto _ : state) {
    auto body = decoder.decode_body(tools_call);
    benchmark::DoNotOptimize(body.single.id.offset);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * tools_call.size()));
}
BENCHMARK(BM_DecodeToolsCall);

// A backend's answer: the envelope is read, the (large) result is skipped, not parsed.
void BM_DecodeLargeResult(benchmark::State& state) {
  jsonrpc::decoder decoder;
  const std::string text = large_result(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto env = decoder.decode(text);
    benchmark::DoNotOptimize(env.id.offset);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_DecodeLargeResult)->Arg(1024)->Arg(64 * 1024);

// Mapping a request onto an upstream id: both the id and the progress token are rewritten.
void BM_SpliceIdAndProgressToken(benchmark::State& state) {
  jsonrpc::decoder decoder;
  auto env = decoder.decode(tools_call);
  for (auto _ : state) {
    std::string out = jsonrpc::splice(tools_call, env.id, "1001", env.progress_token, "1001");
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_SpliceIdAndProgressToken);

void BM_SseEncode(benchmark::State& state) {
  const std::string data = large_result(static_cast<std::size_t>(state.range(0)));
  std::string out;
  for (auto _ : state) {
    out.clear();
    sse::append_event(out, "3_17", data);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_SseEncode)->Arg(256)->Arg(64 * 1024);

// A backend's SSE response arriving in 4 KiB reads: 32 progress events and the result.
void BM_SseDecodeStream(benchmark::State& state) {
  std::string stream;
  for (int i = 0; i < 32; ++i) {
    std::string progress =
        R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,)";
    progress.append(R"("progress":)").append(std::to_string(i)).append("}}");
    sse::append_event(stream, "1_" + std::to_string(i), progress);
  }
  sse::append_event(stream, "1_32", large_result(2048));
  for (auto _ : state) {
    sse::decoder decoder(16 * 1024 * 1024);
    sse::event ev;
    std::size_t events = 0;
    for (std::size_t at = 0; at < stream.size(); at += 4096) {
      decoder.feed(std::string_view(stream).substr(at, 4096));
      while (decoder.next(ev) == sse::decode_status::event_ready) {
        ++events;
      }
    }
    benchmark::DoNotOptimize(events);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
}
BENCHMARK(BM_SseDecodeStream);

}  // namespace

BENCHMARK_MAIN();
