#include "backend/child_process.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sched.h>
#include <signal.h>
#include <string_view>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace mcpgw {

namespace {

constexpr auto tuple_awaitable = net::as_tuple(net::use_awaitable);

// A pipe whose two ends close on exec; the child dup2()s the ends it keeps.
bool make_pipe(std::array<int, 2>& fds) { return ::pipe2(fds.data(), O_CLOEXEC) == 0; }

void close_fd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

bool is_executable(const std::string& file) { return ::access(file.c_str(), X_OK) == 0; }

// The file execve() gets: argv[0] itself when it has a '/', else the first match in the
// child's PATH. Done before clone(), where allocation is still allowed.
std::string resolve_program(const spawn_spec& spec) {
  const std::string& program = spec.argv.front();
  if (program.find('/') != std::string::npos) {
    return program;  // relative to the child's cwd, where execve() runs
  }
  std::string_view path = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& entry : spec.env) {
    if (entry.starts_with("PATH=")) {
      path = std::string_view(entry).substr(5);
    }
  }
  while (!path.empty()) {
    std::size_t colon = path.find(':');
    std::string dir(path.substr(0, colon));
    path = colon == std::string_view::npos ? std::string_view() : path.substr(colon + 1);
    if (dir.empty()) {
      dir = spec.cwd.empty() ? "." : spec.cwd;
    } else if (dir.front() != '/' && !spec.cwd.empty()) {
      dir = spec.cwd + "/" + dir;
    }
    std::string file = dir + "/" + program;
    if (is_executable(file)) {
      return file;
    }
  }
  return {};
}

// [first, last] closed: with close_range, or, when it is not there or refused, one close()
// each up to `highest`.
__attribute__((no_sanitize("address", "undefined"))) void close_span(unsigned first, unsigned last,
                                                                     unsigned highest,
                                                                     bool use_close_range) {
  if (first > last) {
    return;
  }
  if (use_close_range && ::syscall(SYS_close_range, first, last, 0U) == 0) {
    return;
  }
  const unsigned end = last < highest ? last : highest;
  for (std::uint64_t fd = first; fd <= end; ++fd) {
    ::syscall(SYS_close, static_cast<int>(fd));  // the system call itself: nothing interposed
  }
}

// What the child reports through the error pipe when it cannot exec: the step and errno.
struct child_failure {
  int step;  // 0 chdir, 1 exec, 2 setup
  int error;
};

[[noreturn]] void child_fail(int fd, int step) {
  child_failure f{step, errno};
  [[maybe_unused]] auto n = ::write(fd, &f, sizeof f);
  ::_exit(127);
}

// What the child needs between clone() and exec(), all prepared by the parent.
struct child_setup {
  pid_t parent = 0;
  int in = -1;
  int out = -1;
  int err = -1;
  int report = -1;
  const char* program = nullptr;
  char** argv = nullptr;
  char** envp = nullptr;
  const char* cwd = nullptr;
  unsigned highest_fd = 0;  // where closing stops without close_range
};

// The child, on a stack of its own in the gateway's memory until exec: only system calls,
// nothing that allocates, locks or writes the parent's data.
// Not instrumented by ASan: its bookkeeping would run on the shared memory of the parent.
__attribute__((no_sanitize("address", "undefined"))) int exec_child(void* arg) {
  const auto& s = *static_cast<const child_setup*>(arg);
  // Its own process group, so the gateway can signal it and what it starts; and SIGKILL when
  // the gateway dies, so a killed gateway leaves no orphans.
  ::setpgid(0, 0);
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
    child_fail(s.report, 2);
  }
  if (::getppid() != s.parent) {
    ::_exit(127);  // the gateway died before prctl took effect
  }
  if (::dup2(s.in, STDIN_FILENO) < 0 || ::dup2(s.out, STDOUT_FILENO) < 0 ||
      ::dup2(s.err, STDERR_FILENO) < 0) {
    child_fail(s.report, 2);
  }
  // Dispositions are inherited across exec (the gateway ignores SIGPIPE); handlers would run
  // gateway code. Every signal the gateway handles or ignores goes back to its default, then
  // the mask (all blocked by the parent for the clone) is cleared.
  for (int signo : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2}) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(signo, &dfl, nullptr);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (s.cwd != nullptr && ::chdir(s.cwd) != 0) {
    child_fail(s.report, 0);
  }
  // Every other descriptor of the gateway (sockets, listeners) is closed on exec: ours are
  // O_CLOEXEC, and any a library opened without it are closed here.
  // The report pipe stays open until exec succeeds (it is close-on-exec).
  close_inherited(static_cast<unsigned>(s.report), s.highest_fd, true);
  ::execve(s.program, s.argv, s.envp);
  child_fail(s.report, 1);
}

const char* signal_name(int signo) {
  switch (signo) {
    case SIGKILL:
      return "SIGKILL";
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGSEGV:
      return "SIGSEGV";
    case SIGABRT:
      return "SIGABRT";
    case SIGPIPE:
      return "SIGPIPE";
    default:
      return "";
  }
}

}  // namespace

__attribute__((no_sanitize("address", "undefined"))) void close_inherited(unsigned keep,
                                                                          unsigned highest,
                                                                          bool use_close_range) {
  if (keep > 3) {
    close_span(3U, keep - 1, highest, use_close_range);
  }
  close_span(keep < 3 ? 3U : keep + 1, ~0U, highest, use_close_range);
}

unsigned highest_open_fd() {
  unsigned highest = 2;
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec) {
    return descriptor_ceiling();
  }
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    unsigned fd = 0;
    const std::string name = it->path().filename().string();
    std::from_chars(name.data(), name.data() + name.size(), fd);
    highest = std::max(highest, fd);
  }
  return highest;
}

unsigned descriptor_ceiling() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return 65535;
  }
  return static_cast<unsigned>(std::clamp<rlim_t>(limit.rlim_cur, 3, 65536) - 1);
}

std::vector<std::string> minimal_environment(
    const std::vector<std::pair<std::string, std::string>>& configured) {
  std::vector<std::string> env;
  for (const char* name : {"PATH", "HOME", "LANG"}) {
    bool overridden = false;
    for (const auto& [key, value] : configured) {
      overridden = overridden || key == name;
    }
    const char* value = std::getenv(name);
    if (!overridden && value != nullptr) {
      env.push_back(std::string(name) + "=" + value);
    }
  }
  for (const auto& [key, value] : configured) {
    env.push_back(key + "=" + value);
  }
  return env;
}

child_process::child_process(net::any_io_executor ex, pid_t pid, int in, int out, int err,
                             int pidfd)
    : ex_(ex), pid_(pid), in_(ex, in), out_(ex, out), err_(ex, err) {
  if (pidfd >= 0) {
    pidfd_.emplace(ex, pidfd);
  }
}

child_process::~child_process() {
  if (!status_) {
    // The owner is gone without a shutdown (gateway exit, a failed start): no orphan stays.
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

net::awaitable<std::unique_ptr<child_process>> child_process::spawn(net::any_io_executor ex,
                                                                    const spawn_spec& spec,
                                                                    std::string& error) {
  if (spec.argv.empty()) {
    error = "no command";
    co_return nullptr;
  }
  std::string program = resolve_program(spec);
  if (program.empty()) {
    error = "program '" + spec.argv.front() + "' not found in the child's PATH";
    co_return nullptr;
  }
  // Everything the child needs is built now: between clone() and exec() only system calls
  // are allowed (the child runs in the gateway's memory, and the gateway has other threads).
  std::vector<char*> argv;
  for (const auto& a : spec.argv) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : spec.env) {
    envp.push_back(const_cast<char*>(e.c_str()));
  }
  envp.push_back(nullptr);
  const char* cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();

  std::array<int, 2> in{-1, -1};
  std::array<int, 2> out{-1, -1};
  std::array<int, 2> err{-1, -1};
  std::array<int, 2> report{-1, -1};
  auto close_all = [&] {
    for (auto* p : {&in, &out, &err, &report}) {
      close_fd((*p)[0]);
      close_fd((*p)[1]);
    }
  };
  if (!make_pipe(in) || !make_pipe(out) || !make_pipe(err) || !make_pipe(report)) {
    error = std::string("cannot create pipes: ") + std::strerror(errno);
    close_all();
    co_return nullptr;
  }
  // The child shares the gateway's memory until it execs (CLONE_VM | CLONE_VFORK, as
  // posix_spawn does): fork() copied the page tables of the whole gateway, about two
  // milliseconds during which the event loop stood still, and a warm pool refills right
  // after a session takes one of its processes. The gateway thread waits only for the exec.
  child_setup setup;
  setup.parent = ::getpid();
  setup.in = in[0];
  setup.out = out[1];
  setup.err = err[1];
  setup.report = report[1];
  setup.program = program.c_str();
  setup.argv = argv.data();
  setup.envp = envp.data();
  setup.cwd = cwd;
  // Where close_range is missing, the child closes one descriptor at a time up to the highest
  // open now, with slack for any another thread opens meanwhile (the scan takes milliseconds
  // with 10,000 sockets, so only then). Where it is there, the descriptor limit bounds the
  // same loop should it fail all the same.
  static const bool has_close_range = ::syscall(SYS_close_range, ~0U, ~0U, 0U) == 0;
  setup.highest_fd = has_close_range ? descriptor_ceiling() : highest_open_fd() + 64;
  // Signals stay blocked while the child runs on shared memory: a gateway handler must not
  // run in it. The child unblocks them once their dispositions are the defaults.
  sigset_t all;
  sigset_t previous;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  std::vector<char> stack(64 * 1024);
  const pid_t pid =
      ::clone(exec_child, stack.data() + stack.size(), CLONE_VM | CLONE_VFORK | SIGCHLD, &setup);
  const int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) {
    error = std::string("cannot start a process: ") + std::strerror(clone_errno);
    close_all();
    co_return nullptr;
  }
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  close_fd(report[1]);
  ::setpgid(pid, pid);  // also from here, so signal() works even before the child ran
  for (int fd : {in[1], out[0], err[0]}) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  std::unique_ptr<child_process> child(new child_process(ex, pid, in[1], out[0], err[0], pidfd));
  // The report pipe reads EOF once exec succeeded (close on exec) or the child died.
  net::posix::stream_descriptor report_pipe(ex, report[0]);
  child_failure failure{-1, 0};
  std::size_t got = 0;
  while (got < sizeof failure) {
    auto [ec, n] = co_await report_pipe.async_read_some(
        net::buffer(reinterpret_cast<char*>(&failure) + got, sizeof failure - got),
        tuple_awaitable);
    got += n;
    if (ec) {
      break;
    }
  }
  if (got == sizeof failure) {
    static constexpr const char* steps[] = {"cannot change to directory", "cannot execute",
                                            "cannot set up"};
    int step = failure.step >= 0 && failure.step <= 2 ? failure.step : 2;
    error = std::string(steps[step]) + " '" +
            (step == 0   ? spec.cwd
             : step == 1 ? program
                         : spec.argv.front()) +
            "': " + std::strerror(failure.error);
    co_await child->wait_exit();
    co_return nullptr;
  }
  co_return child;
}

void child_process::close_stdin() {
  boost::system::error_code ignored;
  in_.close(ignored);
}

void child_process::signal(int signo) {
  if (!status_) {
    ::kill(-pid_, signo);
  }
}

bool child_process::try_reap() {
  if (status_) {
    return true;
  }
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = status;
    // What the child left running in its group goes with it.
    ::kill(-pid_, SIGKILL);
    return true;
  }
  if (r < 0 && errno == ECHILD) {
    status_ = 0;  // reaped elsewhere; nothing more to learn
    return true;
  }
  return false;
}

net::awaitable<void> child_process::wait_exit() {
  net::steady_timer poll(ex_);
  while (!try_reap()) {
    if (pidfd_ && pidfd_->is_open()) {
      auto [ec] =
          co_await pidfd_->async_wait(net::posix::stream_descriptor::wait_read, tuple_awaitable);
      if (ec && ec != net::error::operation_aborted) {
        pidfd_.reset();  // fall back to polling
      }
    } else {
      poll.expires_after(std::chrono::milliseconds(20));
      co_await poll.async_wait(tuple_awaitable);
    }
  }
  boost::system::error_code ignored;
  out_.close(ignored);
  err_.close(ignored);
  in_.close(ignored);
}

net::awaitable<bool> child_process::wait_exit_for(duration timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  net::steady_timer timer(ex_);
  while (!try_reap() && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::min<duration>(std::chrono::milliseconds(10), timeout));
    co_await timer.async_wait(tuple_awaitable);
  }
  co_return status_.has_value();
}

net::awaitable<void> child_process::terminate(duration step) {
  close_stdin();
  bool done = co_await wait_exit_for(step);
  if (!done) {
    signal(SIGTERM);
    done = co_await wait_exit_for(step);
  }
  if (!done) {
    signal(SIGKILL);
    const duration reap_limit = std::chrono::seconds(5);
    co_await wait_exit_for(reap_limit);
  }
}

std::string child_process::exit_description() const {
  if (!status_) {
    return {};
  }
  int status = *status_;
  if (WIFEXITED(status)) {
    return "exit code " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    int signo = WTERMSIG(status);
    std::string name = signal_name(signo);
    return "killed by signal " + std::to_string(signo) + (name.empty() ? "" : " (" + name + ")");
  }
  return "ended";
}

}  // namespace mcpgw
