// Tests for how an aggregated route names its backends' tools, prompts and resources: prefixes,
// the 64-character shortening, reversible URI prefixes, combined cursors and merged
// capabilities; and for the offsets json_view finds to rewrite them in place.
#include "aggregate/naming.h"

#include "aggregate/json_view.h"

#include "mcpgw/jsonrpc.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace mcpgw::aggregate {
namespace {

route_member member(std::string name, std::string prefix, std::string separator = "__") {
  route_member m;
  m.backend = std::move(name);
  m.prefix = std::move(prefix);
  m.separator = std::move(separator);
  for (char c : m.prefix) {
    m.uri_prefix.push_back(c == '_' ? '-' : static_cast<char>(std::tolower(c)));
  }
  return m;
}

TEST(AggregateNaming, PrefixAndSeparator) {
  EXPECT_EQ(visible_name(member("files", "files"), "read", true), "files__read");
  EXPECT_EQ(visible_name(member("files", "fs", "."), "read", true), "fs.read");
  EXPECT_EQ(visible_name(member("files", ""), "read", true), "read");
}

TEST(AggregateNaming, LongToolNamesAreShortenedDeterministically) {
  const route_member m = member("search", "search");
  const std::string long_a(70, 'a');
  std::string long_b = long_a;
  long_b.back() = 'b';  // same first 55 bytes after the prefix
  const std::string a = visible_name(m, long_a, true);
  const std::string b = visible_name(m, long_b, true);
  EXPECT_EQ(a.size(), max_tool_name);
  EXPECT_EQ(b.size(), max_tool_name);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, visible_name(m, long_a, true));  // stable
  EXPECT_TRUE(a.starts_with("search__aaaa"));
  EXPECT_EQ(a[55], '_');
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef", 56), std::string::npos);
  // Exactly 64 is kept as it is; prompts are never shortened.
  const std::string fits(64 - 8, 'x');
  EXPECT_EQ(visible_name(m, fits, true), "search__" + fits);
  EXPECT_EQ(visible_name(m, long_a, false), "search__" + long_a);
}

TEST(AggregateNaming, ShorteningDoesNotCutUtf8Characters) {
  std::string name;
  for (int i = 0; i < 40; ++i) {
    name += "\xc3\xa9";  // é, two bytes
  }
  const std::string v = visible_name(member("b", "b"), name, true);
  EXPECT_LE(v.size(), max_tool_name);
  const std::size_t cut = v.rfind('_');
  ASSERT_NE(cut, std::string::npos);
  // Everything before the hash is whole characters: an even number of bytes after "b__".
  EXPECT_EQ((cut - 3) % 2, 0u) << v;
}

TEST(AggregateNaming, UrisAreMappedReversibly) {
  std::vector<route_member> members{member("files", "files"), member("my_db", "my_db"),
                                    member("main", "")};
  EXPECT_EQ(visible_uri(members[0], "file:///a/b"), "files+file:///a/b");
  EXPECT_EQ(visible_uri(members[1], "db://t/1"), "my-db+db://t/1");
  EXPECT_EQ(visible_uri(members[2], "x://y"), "x://y");
  std::string original;
  EXPECT_EQ(resolve_uri(members, "files+file:///a/b", original), 0u);
  EXPECT_EQ(original, "file:///a/b");
  EXPECT_EQ(resolve_uri(members, "my-db+db://t/1", original), 1u);
  EXPECT_EQ(original, "db://t/1");
  EXPECT_EQ(resolve_uri(members, "x://y", original), 2u);  // the unprefixed backend
  EXPECT_EQ(original, "x://y");
  members.pop_back();
  EXPECT_EQ(resolve_uri(members, "x://y", original), std::nullopt);
  EXPECT_EQ(resolve_uri(members, "files+", original), std::nullopt);
}

TEST(AggregateNaming, CursorsRoundTripAndRejectForgeries) {
  std::vector<page_position> pending{{0, "abc"}, {2, ""}, {1, "with:colons:1:2"}};
  const std::string text = encode_cursor('t', pending);
  auto back = decode_cursor('t', text, 3);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 3u);
  EXPECT_EQ((*back)[0].member, 0u);
  EXPECT_EQ((*back)[0].cursor, "abc");
  EXPECT_EQ((*back)[2].cursor, "with:colons:1:2");
  EXPECT_FALSE(decode_cursor('p', text, 3));  // a tools cursor for prompts/list
  EXPECT_FALSE(decode_cursor('t', text, 2));  // a backend index the route does not have
  EXPECT_FALSE(decode_cursor('t', "!!", 3));  // not base64url
  EXPECT_FALSE(decode_cursor('t', "", 3));
  EXPECT_FALSE(decode_cursor('t', encode_cursor('t', {}), 3));
  const std::vector<page_position> twice{{1, "a"}, {1, "b"}};
  EXPECT_FALSE(decode_cursor('t', encode_cursor('t', twice), 3));
  std::string cut = encode_cursor('t', std::vector<page_position>{{0, "abcdef"}});
  cut.resize(cut.size() - 3);
  EXPECT_FALSE(decode_cursor('t', cut, 3));
}

TEST(AggregateNaming, CapabilitiesAreWhatSomeBackendOffers) {
  capability_set caps = read_capabilities(R"({"tools":{}})");
  EXPECT_TRUE(caps.tools);
  EXPECT_FALSE(caps.resources);
  caps |= read_capabilities(R"({"resources":{"subscribe":true},"logging":{},"completions":{}})");
  EXPECT_EQ(offer(caps),
            R"({"tools":{"listChanged":true},"resources":{"subscribe":true,"listChanged":true},)"
            R"("completions":{},"logging":{}})");
  EXPECT_EQ(offer(read_capabilities(R"({"prompts":{"listChanged":false}})")),
            R"({"prompts":{"listChanged":true}})");
  EXPECT_EQ(offer(read_capabilities("not json")), "{}");
}

TEST(AggregateJsonView, FindsListItemsAndNames) {
  json_view j;
  const std::string response =
      R"({"jsonrpc":"2.0","id":1,"result":{"tools":[ {"name" : "a\"b", "x":1} ,{"name":"c"}],)"
      R"("nextCursor":"n1"}})";
  auto page = j.page(response, "tools");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0], R"({"name" : "a\"b", "x":1})");
  EXPECT_EQ(page->next_cursor, "n1");
  const std::string item(page->items[0]);
  auto name = j.member(item, "name");
  ASSERT_TRUE(name);
  EXPECT_EQ(name->value, "a\"b");
  EXPECT_EQ(jsonrpc::splice(item, name->at, "\"p__x\""), R"({"name" : "p__x", "x":1})");
  EXPECT_FALSE(
      j.page(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}})", "tools"));
  EXPECT_FALSE(j.page(R"({"jsonrpc":"2.0","id":1,"result":{"tools":[1]}})", "tools"));
  EXPECT_FALSE(j.page(std::string_view(), "tools"));  // an empty body: no memcpy from null
}

TEST(AggregateJsonView, FindsParamsAndResultUris) {
  json_view j;
  const std::string call =
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"arguments":{"name":"no"},"name":"fs__read"}})";
  auto name = j.param(call, "name");
  ASSERT_TRUE(name);
  EXPECT_EQ(name->value, "fs__read");
  EXPECT_EQ(
      jsonrpc::splice(call, name->at, "\"read\""),
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"arguments":{"name":"no"},"name":"read"}})");
  const std::string complete =
      R"({"jsonrpc":"2.0","id":4,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p__x"}}})";
  EXPECT_EQ(j.ref(complete, "type")->value, "ref/prompt");
  EXPECT_EQ(j.ref(complete, "name")->value, "p__x");
  const std::string result =
      R"({"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"resource_link","uri":"file:///a"},)"
      R"({"type":"resource","resource":{"uri":"file:///b","text":"t"}}],)"
      R"("structuredContent":{"uri":"not mapped"},"_meta":{"uri":"nor this"}}})";
  std::vector<string_at> uris = j.result_uris(result);
  ASSERT_EQ(uris.size(), 2u);
  EXPECT_EQ(uris[0].value, "file:///a");
  EXPECT_EQ(uris[1].value, "file:///b");
  EXPECT_EQ(std::string_view(result).substr(uris[1].at.offset, uris[1].at.length), "\"file:///b\"");
}

TEST(AggregateJsonView, ReadsInitializeResults) {
  json_view j;
  auto info = j.initialize_result(
      R"({"jsonrpc":"2.0","id":"mcpgw-init","result":{"protocolVersion":"2025-06-18",)"
      R"("capabilities":{"tools":{"listChanged":true}},"instructions":"Use \"x\"."}})");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->protocol_version, "2025-06-18");
  EXPECT_EQ(info->capabilities, R"({"tools":{"listChanged":true}})");
  EXPECT_EQ(info->instructions, "Use \"x\".");
  EXPECT_FALSE(j.initialize_result(R"({"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}})"));
}

}  // namespace
}  // namespace mcpgw::aggregate
