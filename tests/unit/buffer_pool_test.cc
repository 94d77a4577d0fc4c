#include "mcpgw/buffer_pool.h"

#include "mcpgw/jsonrpc.h"

#include <gtest/gtest.h>

#include <thread>

using namespace mcpgw;

namespace {

// Each test runs on a thread of its own: the pool is per thread and starts empty there.
template <typename F>
void on_fresh_thread(F f) {
  std::thread t(f);
  t.join();
}

}  // namespace

TEST(BufferPool, AGivenBufferIsTakenBackWithItsCapacityAndEmpty) {
  on_fresh_thread([] {
    EXPECT_EQ(buffer_pool::take().capacity(), std::string().capacity()) << "nothing kept yet";
    std::string body(1000, 'x');
    const char* data = body.data();
    buffer_pool::give(std::move(body));
    EXPECT_EQ(buffer_pool::kept_now(), 1u);
    std::string again = buffer_pool::take();
    EXPECT_TRUE(again.empty());
    EXPECT_GE(again.capacity(), 1000u);
    EXPECT_EQ(again.data(), data);
    EXPECT_EQ(buffer_pool::kept_now(), 0u);
  });
}

TEST(BufferPool, KeepsNeitherTinyNorHugeBuffersNorMoreThanItsBound) {
  on_fresh_thread([] {
    buffer_pool::give(std::string("short"));
    buffer_pool::give(std::string(buffer_pool::max_capacity + 1, 'x'));
    EXPECT_EQ(buffer_pool::kept_now(), 0u);
    for (std::size_t i = 0; i < buffer_pool::max_kept + 5; ++i) {
      buffer_pool::give(std::string(100, 'x'));
    }
    EXPECT_EQ(buffer_pool::kept_now(), buffer_pool::max_kept);
  });
}

TEST(BufferPool, APooledStringGoesBackWhenItsScopeEnds) {
  on_fresh_thread([] {
    const char* data = nullptr;
    {
      buffer_pool::pooled answer{std::string(500, 'a')};
      data = answer->data();
    }
    EXPECT_EQ(buffer_pool::kept_now(), 1u);
    buffer_pool::pooled next;
    EXPECT_EQ(next->data(), data);
    EXPECT_TRUE(next->empty());
  });
}

TEST(BufferPool, SpliceWritesIntoAKeptBuffer) {
  on_fresh_thread([] {
    const std::string body(200, ' ');
    const std::string text = R"({"jsonrpc":"2.0","id":7,"result":{"pad":")" + body + R"("}})";
    jsonrpc::decoder decoder;
    const jsonrpc::envelope env = decoder.decode(text);
    std::string first = jsonrpc::splice(text, env.id, "\"c-1\"");
    const char* data = first.data();
    buffer_pool::give(std::move(first));
    const std::string second = jsonrpc::splice(text, env.id, "\"c-2\"");
    EXPECT_EQ(second.data(), data) << "the kept buffer was not used";
    EXPECT_EQ(second, R"({"jsonrpc":"2.0","id":"c-2","result":{"pad":")" + body + R"("}})");
  });
}
