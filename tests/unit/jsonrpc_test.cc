#include "mcpgw/jsonrpc.h"

#include <gtest/gtest.h>

using namespace mcpgw::jsonrpc;

// The build gives the decoder a target ISA (MCPGW_SIMD_ARCH) so that simdjson's on-demand API,
// which has no runtime dispatch, uses a SIMD kernel; an ISA that misses one of the kernel's
// requirements silently selects the scalar fallback.
TEST(Jsonrpc, DecoderIsBuiltForASimdKernel) {
#ifdef MCPGW_SIMD_KERNEL_EXPECTED
  EXPECT_NE(simd_kernel(), "fallback");
#else
  GTEST_SKIP() << "built without MCPGW_SIMD_ARCH; the decoder uses " << simd_kernel();
#endif
}

TEST(Jsonrpc, DecodesRequestWithIdMethodNameAndProgressToken) {
  decoder d;
  std::string body =
      R"({"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"echo","arguments":{"x":[1,{"y":2}]},"_meta":{"progressToken":"p-1"}}})";
  envelope env = d.decode(body);
  ASSERT_EQ(env.kind, message_kind::request);
  EXPECT_EQ(env.id.in(body), "42");
  EXPECT_EQ(env.method.str(), "tools/call");
  EXPECT_EQ(env.name.str(), "echo");
  EXPECT_EQ(env.progress_token.in(body), R"("p-1")");
  EXPECT_EQ(env.arguments.in(body), R"({"x":[1,{"y":2}]})");
}

TEST(Jsonrpc, KeepsParamsArgumentsAsTheirRawText) {
  decoder d;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments": [ 1, "a" ] ,"name":"t"}})",
       R"([ 1, "a" ])"},
      {R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":"s"}})",
       R"("s")"},
      {R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":7}})",
       "7"},
      {R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}})", ""},
  };
  for (const auto& [body, arguments] : cases) {
    envelope env = d.decode(body);
    ASSERT_EQ(env.kind, message_kind::request) << body;
    EXPECT_EQ(env.arguments.in(body), arguments) << body;
    EXPECT_EQ(env.name.str(), body.find(R"("name":"t")") != std::string::npos ? "t" : "") << body;
  }
}

TEST(Jsonrpc, KeepsStringIdsRawIncludingQuotesAndEscapes) {
  decoder d;
  std::string body = R"({"id" : "a\"b" , "jsonrpc":"2.0","method":"ping"})";
  envelope env = d.decode(body);
  ASSERT_EQ(env.kind, message_kind::request);
  EXPECT_EQ(env.id.in(body), R"("a\"b")");
}

TEST(Jsonrpc, UnescapesMethodWithEscapes) {
  decoder d;
  std::string body = R"({"jsonrpc":"2.0","method":"tools\/list","id":1})";
  envelope env = d.decode(body);
  ASSERT_EQ(env.kind, message_kind::request);
  EXPECT_EQ(env.method.str(), "tools/list");
}

TEST(Jsonrpc, ClassifiesNotificationResultAndError) {
  decoder d;
  EXPECT_EQ(d.decode(R"({"jsonrpc":"2.0","method":"notifications/initialized"})").kind,
            message_kind::notification);
  EXPECT_EQ(d.decode(R"({"jsonrpc":"2.0","id":"x","result":{}})").kind, message_kind::result);
  EXPECT_EQ(d.decode(R"({"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"m"}})").kind,
            message_kind::error);
  EXPECT_EQ(d.decode(R"({"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"m"}})").kind,
            message_kind::error);
}

TEST(Jsonrpc, ReadsProtocolVersionFromInitializeAndItsResult) {
  decoder d;
  std::string req =
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}})";
  EXPECT_EQ(d.decode(req).protocol_version.str(), "2025-06-18");
  std::string res =
      R"({"result":{"protocolVersion":"2025-11-25","capabilities":{}},"jsonrpc":"2.0","id":0})";
  EXPECT_EQ(d.decode(res).protocol_version.str(), "2025-11-25");
}

TEST(Jsonrpc, FindsProgressTokenOfProgressNotificationAndRequestIdOfCancel) {
  decoder d;
  std::string progress =
      R"({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":5,"progress":1}})";
  EXPECT_EQ(d.decode(progress).progress_token.in(progress), "5");
  std::string cancel =
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"r9","reason":"x"}})";
  EXPECT_EQ(d.decode(cancel).request_id.in(cancel), R"("r9")");
}

TEST(Jsonrpc, MalformedJsonIsParseError) {
  decoder d;
  for (std::string bad : {"{", "not json", R"({"jsonrpc":"2.0",})", R"({"a":1} {"b":2})", ""}) {
    decoded_body body = d.decode_body(bad);
    EXPECT_EQ(body.problem_code, parse_error) << bad;
  }
}

TEST(Jsonrpc, WrongShapeIsInvalidRequestNamingTheField) {
  decoder d;
  struct {
    std::string body;
    std::string fragment;
  } cases[] = {
      {"42", "must be an object"},
      {"[]", "empty batch"},
      {R"({"id":1,"method":"x"})", "jsonrpc"},
      {R"({"jsonrpc":"1.0","id":1,"method":"x"})", "\"jsonrpc\" must be \"2.0\""},
      {R"({"jsonrpc":"2.0","id":null,"method":"x"})", "must not be null"},
      {R"({"jsonrpc":"2.0","id":1.5,"method":"x"})", "\"id\" must be a string or an integer"},
      {R"({"jsonrpc":"2.0","id":{},"method":"x"})", "\"id\""},
      {R"({"jsonrpc":"2.0","id":1,"method":7})", "\"method\" must be a string"},
      {R"({"jsonrpc":"2.0","id":1})", "missing \"method\""},
      {R"({"jsonrpc":"2.0","result":{}})", "must have an \"id\""},
      {R"({"jsonrpc":"2.0","id":1,"result":{},"error":{}})", "both"},
      {R"({"jsonrpc":"2.0","id":1,"method":"x","params":3})", "\"params\""},
  };
  for (const auto& c : cases) {
    decoded_body body = d.decode_body(c.body);
    EXPECT_EQ(body.problem_code, invalid_request) << c.body;
    EXPECT_NE(body.problem.find(c.fragment), std::string::npos) << c.body << " -> " << body.problem;
  }
}

TEST(Jsonrpc, DecodesBatchElementsAsTextRanges) {
  decoder d;
  std::string body =
      R"([ {"jsonrpc":"2.0","id":1,"method":"ping"} , {"jsonrpc":"2.0","method":"n"} ])";
  decoded_body decoded = d.decode_body(body);
  ASSERT_TRUE(decoded.batch);
  ASSERT_EQ(decoded.elements.size(), 2u);
  EXPECT_EQ(decoded.elements[0].in(body), R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  EXPECT_EQ(decoded.elements[1].in(body), R"({"jsonrpc":"2.0","method":"n"})");
  EXPECT_EQ(d.decode_body("[1,2]").problem_code, invalid_request);
}

TEST(Jsonrpc, SpliceReplacesIdWithoutTouchingTheRest) {
  decoder d;
  std::string body =
      R"({"jsonrpc":"2.0","id":"abc","method":"m","params":{"_meta":{"progressToken":"abc"},"k":"v"}})";
  envelope env = d.decode(body);
  EXPECT_EQ(
      splice(body, env.id, "17", env.progress_token, "17"),
      R"({"jsonrpc":"2.0","id":17,"method":"m","params":{"_meta":{"progressToken":17},"k":"v"}})");
  EXPECT_EQ(
      splice(body, env.id, "1"),
      R"({"jsonrpc":"2.0","id":1,"method":"m","params":{"_meta":{"progressToken":"abc"},"k":"v"}})");
}

TEST(Jsonrpc, MakeErrorEscapesMessageAndUsesNullWithoutId) {
  EXPECT_EQ(make_error("", -32700, "bad \"x\"\n"),
            R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad \"x\"\n"}})");
  EXPECT_EQ(make_error("\"a\"", -1, "m"),
            R"({"jsonrpc":"2.0","id":"a","error":{"code":-1,"message":"m"}})");
}

TEST(Jsonrpc, QuoteEscapesWhatJsonRequiresAndAppendsInPlace) {
  EXPECT_EQ(quote("tools/call"), "\"tools/call\"");
  EXPECT_EQ(quote(""), "\"\"");
  // The clean prefix is copied at once; escaping starts at the first special character.
  EXPECT_EQ(quote("ab\"c\\d\te\x01\x1f\r\n"), R"("ab\"c\\d\te\u0001\u001f\r\n")");
  EXPECT_EQ(quote("caf\xc3\xa9"), "\"caf\xc3\xa9\"") << "UTF-8 passes through";
  // Sixteen bytes are scanned at a time, the last sixteen overlapping the ones before, and a
  // shorter string a byte at a time: a special at every position of every length to 40, so
  // in every block and in every overlap.
  for (std::size_t length = 1; length <= 40; ++length) {
    for (std::size_t at = 0; at < length; ++at) {
      for (char special : {'"', '\\', '\x1f', '\x00'}) {
        std::string text(length, 'x');
        text[at] = special;
        const std::string escaped = special == '"'      ? "\\\""
                                    : special == '\\'   ? "\\\\"
                                    : special == '\x1f' ? "\\u001f"
                                                        : "\\u0000";
        EXPECT_EQ(quote(text),
                  "\"" + std::string(at, 'x') + escaped + std::string(length - 1 - at, 'x') + "\"")
            << "length " << length << " at " << at;
        // The pointer form writes the same, within its bound.
        std::string buffer(quoted_bound(text.size()), '\0');
        const char* end = write_quoted(buffer.data(), text);
        EXPECT_EQ(std::string_view(buffer.data(), static_cast<std::size_t>(end - buffer.data())),
                  quote(text));
      }
    }
    EXPECT_EQ(quote(std::string(length, 'y')), "\"" + std::string(length, 'y') + "\"");
  }
  // quoted_bound is reached by a string of control characters, and not passed.
  const std::string controls(33, '\x01');
  std::string worst(quoted_bound(controls.size()), '\0');
  EXPECT_EQ(write_quoted(worst.data(), controls), worst.data() + worst.size());
  EXPECT_EQ(worst, quote(controls));
  EXPECT_EQ(quote("\x7f\x80\xff !#[]~0123456789"), "\"\x7f\x80\xff !#[]~0123456789\"")
      << "DEL, high bytes and the neighbours of the specials are not escaped";
  std::string out = "{\"k\":";
  append_quoted(out, "v\"");
  append_quoted(out, "w");
  EXPECT_EQ(out, R"({"k":"v\"""w")");
}

TEST(Jsonrpc, ReusedDecoderHandlesLongThenShortBodies) {
  decoder d;
  std::string big = R"({"jsonrpc":"2.0","id":1,"method":"x","params":{"pad":")" +
                    std::string(100000, 'a') + "\"}}";
  EXPECT_EQ(d.decode(big).kind, message_kind::request);
  std::string small = R"({"jsonrpc":"2.0","id":2,"method":"y"})";
  envelope env = d.decode(small);
  EXPECT_EQ(env.kind, message_kind::request);
  EXPECT_EQ(env.id.in(small), "2");
}

TEST(Jsonrpc, ReadsNameAndUriApartSoPoliciesSeeWhatTheBackendActsOn) {
  decoder d;
  auto call = d.decode(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deploy_prod","uri":"search"}})");
  EXPECT_EQ(call.kind, message_kind::request);
  EXPECT_EQ(subject_of(call), "deploy_prod");
  auto read = d.decode(
      R"({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"secret://x","name":"public://ok"}})");
  EXPECT_EQ(subject_of(read), "secret://x");
}

TEST(Jsonrpc, RefusesARepeatedNameUriOrArgumentsInParams) {
  decoder d;
  auto twice = d.decode(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","name":"deploy_prod"}})");
  EXPECT_EQ(twice.kind, message_kind::invalid);
  EXPECT_EQ(twice.problem_code, invalid_params);
  EXPECT_EQ(twice.problem, "params.name appears twice");
  auto uri = d.decode(
      R"({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"a","uri":"b"}})");
  EXPECT_EQ(uri.kind, message_kind::invalid);
  // The audit log records one set of arguments; a backend might run the other.
  auto arguments = d.decode(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":1},"arguments":{"a":2}}})");
  EXPECT_EQ(arguments.kind, message_kind::invalid);
  EXPECT_EQ(arguments.problem_code, invalid_params);
  EXPECT_EQ(arguments.problem, "params.arguments appears twice");
}
