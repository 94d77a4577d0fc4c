// What a system call costs on this machine, split into user and system time: the floor under
// every request's CPU, which no change to the gateway's own code lowers. A null call
// (getppid), the recv that finds nothing (Asio's speculative read before it waits on epoll),
// and the epoll_ctl(MOD) that async_wait costs instead. Counters user_us and sys_us are per
// call, from getrusage around the loop.
#include <benchmark/benchmark.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

double micros(const timeval& t) {
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
}

// Runs `call` once per iteration and adds the per-call user and system time as counters.
template <typename Call>
void measure(benchmark::State& state, Call&& call) {
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  for (auto _ : state) {
    call();
  }
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  const auto n = static_cast<double>(state.iterations());
  state.counters["user_us"] = (micros(after.ru_utime) - micros(before.ru_utime)) / n;
  state.counters["sys_us"] = (micros(after.ru_stime) - micros(before.ru_stime)) / n;
}

// A connected loopback TCP pair; the accepted end is non-blocking and registered with an
// edge-triggered epoll, as Asio registers its sockets.
struct tcp_pair {
  int listener = -1;
  int client = -1;
  int server = -1;
  int epoll = -1;
  tcp_pair() {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    listener = ::socket(AF_INET, SOCK_STREAM, 0);
    client = ::socket(AF_INET, SOCK_STREAM, 0);
    auto* raw = reinterpret_cast<sockaddr*>(&address);
    if (::bind(listener, raw, sizeof address) != 0 || ::listen(listener, 1) != 0 ||
        ::getsockname(listener, raw, &length) != 0 || ::connect(client, raw, sizeof address) != 0) {
      throw std::runtime_error("loopback pair");
    }
    server = ::accept(listener, nullptr, nullptr);
    ::fcntl(server, F_SETFL, O_NONBLOCK);
    epoll = ::epoll_create1(0);
    epoll_event event{};
    event.events = EPOLLIN | EPOLLET;
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, server, &event);
  }
  ~tcp_pair() {
    for (int fd : {epoll, server, client, listener}) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
  }
  tcp_pair(const tcp_pair&) = delete;
  tcp_pair& operator=(const tcp_pair&) = delete;
};

void BM_NullSyscall(benchmark::State& state) {
  measure(state, [] { benchmark::DoNotOptimize(::getppid()); });
}
BENCHMARK(BM_NullSyscall);

void BM_RecvWouldBlock(benchmark::State& state) {
  tcp_pair pair;
  char buffer[512];
  measure(state, [&] { benchmark::DoNotOptimize(::recv(pair.server, buffer, sizeof buffer, 0)); });
}
BENCHMARK(BM_RecvWouldBlock);

void BM_EpollCtlMod(benchmark::State& state) {
  tcp_pair pair;
  epoll_event event{};
  event.events = EPOLLIN | EPOLLET;
  measure(state, [&] {
    benchmark::DoNotOptimize(::epoll_ctl(pair.epoll, EPOLL_CTL_MOD, pair.server, &event));
  });
}
BENCHMARK(BM_EpollCtlMod);

}  // namespace
