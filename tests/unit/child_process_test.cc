// child_process with real programs: spawning, exec failures, exit reporting and the stdio
// shutdown sequence (stdin closed, SIGTERM, SIGKILL).
#include "backend/child_process.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <signal.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace mcpgw {
namespace {

using namespace std::chrono_literals;

// Runs a coroutine to completion on a fresh io_context and returns its result.
template <typename T>
T run(net::io_context& ioc, net::awaitable<T> task) {
  auto future = net::co_spawn(ioc, std::move(task), net::use_future);
  ioc.run();
  ioc.restart();
  return future.get();
}

spawn_spec program(std::vector<std::string> argv, std::string cwd = {}) {
  return spawn_spec{std::move(argv), minimal_environment({}), std::move(cwd)};
}

spawn_spec sh(std::string script) { return program({"sh", "-c", std::move(script)}); }

bool alive(pid_t pid) {
  // A zombie still answers kill(0); read its state instead.
  std::string stat = "/proc/" + std::to_string(pid) + "/stat";
  FILE* f = std::fopen(stat.c_str(), "r");
  if (f == nullptr) {
    return false;
  }
  int ignored = 0;
  char state = 0;
  char name[256] = {};
  int n = std::fscanf(f, "%d (%255[^)]) %c", &ignored, name, &state);
  std::fclose(f);
  return n == 3 && state != 'Z';
}

TEST(ChildProcess, RunsAProgramAndReportsItsExitCode) {
  net::io_context ioc;
  auto code = run(ioc, [&]() -> net::awaitable<std::string> {
    std::string error;
    auto child = co_await child_process::spawn(ioc.get_executor(), sh("echo hello; exit 7"), error);
    EXPECT_TRUE(child) << error;
    if (!child) {
      co_return error;
    }
    std::string out(5, '\0');
    co_await net::async_read(child->stdout_pipe(), net::buffer(out), net::use_awaitable);
    EXPECT_EQ(out, "hello");
    co_await child->wait_exit();
    co_return child->exit_description();
  }());
  EXPECT_EQ(code, "exit code 7");
}

TEST(ChildProcess, TheChildStartsWithNoSignalBlockedOrIgnoredAndTheParentsMaskIsRestored) {
  // The gateway ignores SIGPIPE and blocks every signal around the clone(); neither may leak
  // into the child (a backend that ignores SIGPIPE or blocks SIGTERM misbehaves).
  struct sigaction ignore {};
  struct sigaction before {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &before);
  sigset_t usr1;
  sigset_t mask_before;
  sigset_t mask_after;
  ::sigemptyset(&usr1);
  ::sigaddset(&usr1, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &usr1, &mask_before);
  net::io_context ioc;
  auto status = run(ioc, [&]() -> net::awaitable<std::string> {
    std::string error;
    auto child = co_await child_process::spawn(
        ioc.get_executor(), sh("grep -E '^Sig(Blk|Ign):' /proc/self/status"), error);
    EXPECT_TRUE(child) << error;
    if (!child) {
      co_return error;
    }
    std::string out;
    // Read to EOF (the error that ends the read is that EOF).
    co_await net::async_read(child->stdout_pipe(), net::dynamic_buffer(out),
                             net::as_tuple(net::use_awaitable));
    co_await child->wait_exit();
    co_return out;
  }());
  ::pthread_sigmask(SIG_SETMASK, nullptr, &mask_after);
  EXPECT_EQ(::sigismember(&mask_after, SIGUSR1), 1) << "the parent's own mask is back";
  EXPECT_EQ(::sigismember(&mask_after, SIGTERM), 0) << "nothing else stayed blocked";
  ::pthread_sigmask(SIG_SETMASK, &mask_before, nullptr);
  ::sigaction(SIGPIPE, &before, nullptr);
  EXPECT_NE(status.find("SigBlk:\t0000000000000000"), std::string::npos) << status;
  EXPECT_NE(status.find("SigIgn:\t0000000000000000"), std::string::npos) << status;
}

TEST(ChildProcess, MissingProgramIsAnErrorNotAChild) {
  net::io_context ioc;
  const spawn_spec missing = program({"mcpgw-no-such-program"});
  auto error = run(ioc, [&]() -> net::awaitable<std::string> {
    std::string why;
    auto child = co_await child_process::spawn(ioc.get_executor(), missing, why);
    EXPECT_FALSE(child);
    co_return why;
  }());
  EXPECT_NE(error.find("'mcpgw-no-such-program' not found"), std::string::npos) << error;
}

TEST(ChildProcess, ExecAndChdirFailuresComeBackFromTheChild) {
  net::io_context ioc;
  const spawn_spec data_file = program({"/etc/hostname"});
  const spawn_spec no_dir = program({"/bin/sh"}, "/nonexistent/dir");
  auto errors = run(ioc, [&]() -> net::awaitable<std::pair<std::string, std::string>> {
    std::string not_exec;
    auto a = co_await child_process::spawn(ioc.get_executor(), data_file, not_exec);
    EXPECT_FALSE(a);
    std::string bad_cwd;
    auto b = co_await child_process::spawn(ioc.get_executor(), no_dir, bad_cwd);
    EXPECT_FALSE(b);
    co_return std::pair{not_exec, bad_cwd};
  }());
  EXPECT_NE(errors.first.find("cannot execute '/etc/hostname': "), std::string::npos)
      << errors.first;
  EXPECT_NE(errors.second.find("cannot change to directory '/nonexistent/dir'"), std::string::npos)
      << errors.second;
}

TEST(ChildProcess, GetsOnlyTheMinimalEnvironment) {
  ::setenv("MCPGW_TEST_SECRET", "s3cret", 1);
  auto env = minimal_environment({{"FOO", "bar"}, {"LANG", "C"}});
  ::unsetenv("MCPGW_TEST_SECRET");
  for (const auto& e : env) {
    EXPECT_EQ(e.find("MCPGW_TEST_SECRET"), std::string::npos);
  }
  EXPECT_NE(std::find(env.begin(), env.end(), "FOO=bar"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "LANG=C"), env.end());  // configured wins
  EXPECT_EQ(std::count_if(env.begin(), env.end(), [](auto& e) { return e.starts_with("LANG="); }),
            1);
}

TEST(ChildProcess, ClosingStdinIsEnoughForAWellBehavedServer) {
  net::io_context ioc;
  auto result = run(ioc, [&]() -> net::awaitable<std::string> {
    std::string error;
    auto child = co_await child_process::spawn(ioc.get_executor(), sh("exec cat"), error);
    EXPECT_TRUE(child) << error;
    auto started = std::chrono::steady_clock::now();
    co_await child->terminate(5s);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
    co_return child->exit_description();
  }());
  EXPECT_EQ(result, "exit code 0");
}

TEST(ChildProcess, TerminateEscalatesToSigkill) {
  net::io_context ioc;
  pid_t pid = 0;
  auto result = run(ioc, [&]() -> net::awaitable<std::string> {
    std::string error;
    // Ignores SIGTERM and does not read stdin: only SIGKILL ends it.
    auto child = co_await child_process::spawn(
        ioc.get_executor(), sh("trap '' TERM; while true; do sleep 0.05; done"), error);
    EXPECT_TRUE(child) << error;
    pid = child->pid();
    auto started = std::chrono::steady_clock::now();
    co_await child->terminate(200ms);
    auto took = std::chrono::steady_clock::now() - started;
    EXPECT_GE(took, 400ms);  // both steps waited
    EXPECT_LT(took, 3s);
    co_return child->exit_description();
  }());
  EXPECT_EQ(result, "killed by signal 9 (SIGKILL)");
  EXPECT_FALSE(alive(pid));
}

TEST(ChildProcess, TheWholeProcessGroupGoes) {
  net::io_context ioc;
  pid_t grandchild = 0;
  run(ioc, [&]() -> net::awaitable<int> {
    std::string error;
    auto child =
        co_await child_process::spawn(ioc.get_executor(), sh("sleep 30 & echo $!; wait"), error);
    EXPECT_TRUE(child) << error;
    std::string line;
    char c = 0;
    while (co_await net::async_read(child->stdout_pipe(), net::buffer(&c, 1), net::use_awaitable) ==
               1 &&
           c != '\n') {
      line.push_back(c);
    }
    grandchild = std::atoi(line.c_str());
    EXPECT_TRUE(alive(grandchild));
    co_await child->terminate(200ms);
    co_return 0;
  }());
  ASSERT_GT(grandchild, 0);
  for (int i = 0; i < 100 && alive(grandchild); ++i) {
    ::usleep(10000);
  }
  EXPECT_FALSE(alive(grandchild));
}

TEST(ChildProcess, DestroyingARunningChildKillsAndReapsIt) {
  net::io_context ioc;
  pid_t pid = run(ioc, [&]() -> net::awaitable<pid_t> {
    std::string error;
    auto child = co_await child_process::spawn(ioc.get_executor(), sh("sleep 30"), error);
    EXPECT_TRUE(child) << error;
    co_return child ? child->pid() : 0;
  }());
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(alive(pid));
  EXPECT_NE(::kill(pid, 0), 0);  // reaped, not a zombie
}

// A stdio child must not inherit the gateway's sockets: were one of them a client's connection,
// the client would never see it close. Kernels before 5.9 (and seccomp profiles) lack
// close_range; then every descriptor up to the highest open one is closed one by one.
TEST(ChildProcess, WithoutCloseRangeInheritedDescriptorsAreClosedOneByOne) {
  // Descriptors without close-on-exec, one of them far up, and the one to keep between.
  const int low = ::dup(0);
  const int keep = ::dup(0);
  const int mid = ::dup(0);
  const int high = ::fcntl(0, F_DUPFD, 900);
  ASSERT_TRUE(low > 2 && keep > low && mid > keep && high >= 900);
  const unsigned highest = highest_open_fd();
  EXPECT_GE(highest, static_cast<unsigned>(high));
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close_inherited(static_cast<unsigned>(keep), highest, false);
    for (int fd = 3; fd <= high + 10; ++fd) {
      if (fd != keep && ::fcntl(fd, F_GETFD) != -1) {
        ::_exit(fd == high ? 12 : fd == low ? 10 : fd == mid ? 11 : 13);
      }
    }
    const bool kept = ::fcntl(keep, F_GETFD) != -1 && ::fcntl(0, F_GETFD) != -1 &&
                      ::fcntl(1, F_GETFD) != -1 && ::fcntl(2, F_GETFD) != -1;
    ::_exit(kept ? 0 : 2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  for (int fd : {low, keep, mid, high}) {
    ::close(fd);
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10/11/12/13: a descriptor stayed open; 2: one too many went";
}

TEST(ChildProcess, AChildDoesNotInheritADescriptorWithoutCloseOnExec) {
  const int leaked = ::fcntl(0, F_DUPFD, 700);
  ASSERT_GE(leaked, 700);
  net::io_context ioc;
  auto code = run(ioc, [&]() -> net::awaitable<std::string> {
    std::string error;
    auto child = co_await child_process::spawn(
        ioc.get_executor(),
        sh("test -e /proc/self/fd/" + std::to_string(leaked) + " && exit 3; exit 0"), error);
    EXPECT_TRUE(child) << error;
    if (!child) {
      co_return error;
    }
    co_await child->wait_exit();
    co_return child->exit_description();
  }());
  ::close(leaked);
  EXPECT_EQ(code, "exit code 0") << "descriptor " << leaked << " reached the child";
}

}  // namespace
}  // namespace mcpgw
