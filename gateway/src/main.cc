// mcpgw: wiring only. Parses the command line and the config, builds the server, runs it
// until SIGINT/SIGTERM, and exits 0 after the drain.
#include "audit/audit_chain.h"
#include "builtin.h"
#include "filter/filter_chain.h"
#include "store/observed_store.h"
#include "store/redis_client.h"
#include "store/session_store.h"

#include "mcpgw/config.h"
#include "mcpgw/filter.h"
#include "mcpgw/jsonrpc.h"
#include "mcpgw/log.h"
#include "mcpgw/metrics.h"
#include "mcpgw/version.h"
#include "server/cpu_features.h"
#include "server/server.h"
#include "server/workers.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sched.h>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr const char* usage =
    "usage: mcpgw [--config FILE] [--log-level debug|info|warn|error] [--workers N|auto]\n"
    "       mcpgw --check-config FILE\n"
    "       mcpgw audit verify FILE...   (a rotated sequence: oldest first)\n"
    "       mcpgw --version\n"
    "Without --config, mcpgw runs its embedded defaults (conf/gateway.yaml).\n";

int report(const mcpgw::config_result& result) {
  for (const auto& e : result.errors) {
    std::fprintf(stderr, "%s\n", e.to_string().c_str());
  }
  return result.config ? 0 : 1;
}

// `mcpgw audit verify FILE...`: 0 when the chain holds, 1 naming the first broken line.
int audit_verify(int argc, char** argv) {
  std::vector<std::string> files(argv + 3, argv + argc);
  if (files.empty()) {
    std::fprintf(stderr, "mcpgw audit verify: name the files, oldest first\n%s", usage);
    return 2;
  }
  bool mid_chain = false;
  auto result = mcpgw::plugins::audit::verify_files(files, mid_chain);
  if (!result.ok) {
    std::fprintf(stderr, "%s:%llu: %s\n", result.file.c_str(),
                 static_cast<unsigned long long>(result.line), result.problem.c_str());
    std::fprintf(stderr, "mcpgw audit verify: broken after %llu good records\n",
                 static_cast<unsigned long long>(result.records));
    return 1;
  }
  std::printf("ok: %llu records in %zu file%s%s\n", static_cast<unsigned long long>(result.records),
              files.size(), files.size() == 1 ? "" : "s",
              mid_chain ? " (the first continues an earlier file, not given)" : "");
  return 0;
}

// The CPUs this process may run on (its affinity mask, as taskset sets it): `workers: auto`.
std::size_t cpus_allowed() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) {
    return 1;
  }
  return std::clamp<std::size_t>(static_cast<std::size_t>(CPU_COUNT(&set)), 1, mcpgw::max_workers);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "audit") == 0 && std::strcmp(argv[2], "verify") == 0) {
    return audit_verify(argc, argv);
  }
  std::string config_path;
  std::string check_path;
  std::string level_override;
  std::string workers_override;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "mcpgw: %s needs a value\n%s", flag, usage);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--version") {
      std::printf("mcpgw %s\n", mcpgw::version);
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      std::printf("%s", usage);
      return 0;
    } else if (arg == "--config") {
      config_path = value("--config");
    } else if (arg == "--check-config") {
      check_path = value("--check-config");
    } else if (arg == "--log-level") {
      level_override = value("--log-level");
    } else if (arg == "--workers") {
      workers_override = value("--workers");
    } else {
      std::fprintf(stderr, "mcpgw: unknown argument '%s'\n%s", arg.c_str(), usage);
      return 2;
    }
  }

  mcpgw::filter_registry filters;
  mcpgw::plugins::register_builtin_filters(filters);

  if (!check_path.empty()) {
    auto result = mcpgw::parse_config_file(check_path, &filters);
    int rc = report(result);
    if (rc == 0) {
      std::printf("%s: ok\n", check_path.c_str());
    }
    return rc;
  }

  auto result = config_path.empty()
                    ? mcpgw::parse_config_text(mcpgw::embedded_config,
                                               "<embedded conf/gateway.yaml>", &filters)
                    : mcpgw::parse_config_file(config_path, &filters);
  if (report(result) != 0) {
    return 1;
  }
  mcpgw::gateway_config config = std::move(*result.config);
  if (!level_override.empty()) {
    config.log_level = level_override;
  }
  if (!workers_override.empty()) {
    const auto workers = mcpgw::parse_workers(workers_override);
    if (!workers) {
      std::fprintf(stderr, "mcpgw: --workers: expected auto or a number from 1 to %zu, got '%s'\n",
                   mcpgw::max_workers, workers_override.c_str());
      return 1;
    }
    if (const char* why = mcpgw::workers_refusal(config); *workers > 1 && why != nullptr) {
      std::fprintf(stderr, "mcpgw: --workers: %s; got '%s'\n", why, workers_override.c_str());
      return 1;
    }
    config.workers = *workers;
  }
  mcpgw::log_level level{};
  if (!mcpgw::parse_log_level(config.log_level, level)) {
    std::fprintf(stderr, "mcpgw: --log-level: expected debug, info, warn or error, got '%s'\n",
                 config.log_level.c_str());
    return 1;
  }
  mcpgw::logger log(level);
  if (const std::string missing =
          mcpgw::cpu_features::first_missing(mcpgw::cpu_features::this_cpu_has);
      !missing.empty()) {
    log.error(mcpgw::cpu_features::refusal(missing));
    return 1;
  }
  log.info("starting", {{"version", mcpgw::version},
                        {"malloc", MCPGW_MALLOC_NAME},
                        {"json", mcpgw::jsonrpc::simd_kernel()}});

  // A stdio backend that dies makes writes to its stdin fail with EPIPE; without this they
  // would kill the gateway. (Sockets already write with MSG_NOSIGNAL.)
  std::signal(SIGPIPE, SIG_IGN);

  // auto: one per CPU, or one where more are not supported yet (tls, cluster).
  const char* one_worker = mcpgw::workers_refusal(config);
  const std::size_t worker_count = config.workers != 0     ? config.workers
                                   : one_worker != nullptr ? 1
                                                           : cpus_allowed();
  if (config.workers == 0 && one_worker != nullptr) {
    log.info("workers: auto runs one worker", {{"reason", one_worker}});
  }
  try {
    // Each worker's thread runs its own io_context, so its reactor needs no locks. The
    // scheduler keeps them: the resolver completes look-ups from a helper thread, and workers
    // post to each other (connections handed over, scrapes).
    // What the workers share outlives them all.
    mcpgw::filter_shared_state shared_filters;
    mcpgw::workers::shared shared;
    struct worker {
      // Its shutdown() is execution_context's, protected: called once every thread has ended, it
      // destroys what was still pending (coroutines a second signal cut short) while the
      // servers those refer to still exist.
      struct context : boost::asio::io_context {
        context() : io_context(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO) {}
        void end_pending() { shutdown(); }
      };
      context ioc;
      // Keeps a drained worker's loop running until the last worker has drained: it still
      // takes part in scrapes and takes connections handed to it.
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type> busy{
          ioc.get_executor()};
      std::shared_ptr<mcpgw::redis_client> redis;
      std::unique_ptr<mcpgw::metrics> stats;
      std::shared_ptr<const mcpgw::filter_chain> chain;
      std::unique_ptr<mcpgw::gateway_server> server;  // last: destroyed first
    };
    std::vector<std::unique_ptr<worker>> workers;
    // Every worker's pending work ends before any worker's server goes.
    struct end_pending_first {
      std::vector<std::unique_ptr<worker>>& all;
      ~end_pending_first() {
        for (const auto& w : all) {
          w->ioc.end_pending();
        }
      }
    } end_pending{workers};
    for (std::size_t i = 0; i < worker_count; ++i) {
      auto& w = *workers.emplace_back(std::make_unique<worker>());
      if (config.session_store.type == "redis") {
        w.redis = std::make_shared<mcpgw::redis_client>(
            w.ioc.get_executor(), mcpgw::redis_options_from(config.session_store), log);
      }
      if (config.observability.metrics) {
        w.stats = i == 0 ? std::make_unique<mcpgw::metrics>()
                         : std::make_unique<mcpgw::metrics>(*workers.front()->stats);
      }
      // A worker's sessions are its own (their ids hash to it): so is its memory store.
      auto store = mcpgw::make_session_store(config.session_store, w.redis);
      if (w.stats) {
        store = std::make_shared<mcpgw::observed_session_store>(std::move(store), *w.stats);
      }
      w.chain =
          mcpgw::filter_chain::build({w.ioc.get_executor(), log, config, w.redis, w.stats.get(),
                                      worker_count > 1 ? &shared_filters : nullptr});
      w.server = std::make_unique<mcpgw::gateway_server>(w.ioc, config, log, w.chain, store,
                                                         w.redis, w.stats.get());
    }
    if (worker_count > 1) {
      std::vector<mcpgw::gateway_server*> all;
      for (const auto& w : workers) {
        all.push_back(w->server.get());
      }
      for (std::size_t i = 0; i < worker_count; ++i) {
        workers[i]->server->join_workers(i, all, shared);
      }
    }
    boost::asio::io_context& first = workers.front()->ioc;
    // Signals are caught before the listeners open, so a signal right after start drains too.
    boost::asio::signal_set signals(first, SIGINT, SIGTERM);
    int received = 0;
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int signo) {
          if (ec) {
            return;
          }
          log.info("signal received", {{"signal", signo == SIGINT ? "SIGINT" : "SIGTERM"}});
          if (++received == 1) {
            for (const auto& w : workers) {
              boost::asio::post(w->ioc, [server = w->server.get()] { server->stop(); });
            }
            signals.async_wait(on_signal);
          } else {
            for (const auto& w : workers) {
              w->ioc.stop();  // a second signal skips the rest of the drain
            }
          }
        };
    signals.async_wait(on_signal);
    for (const auto& w : workers) {
      w->server->start();  // the first binds the listeners the others share
    }
    // A worker that fails stops the others: the process exits 1 after their threads end.
    std::atomic<bool> failed{false};
    const auto run = [&](worker& w) {
      try {
        w.ioc.run();
      } catch (const std::exception& e) {
        log.error("fatal", {{"error", e.what()}});
        failed = true;
        for (const auto& other : workers) {
          other->ioc.stop();
        }
      }
    };
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < worker_count; ++i) {
      threads.emplace_back(run, std::ref(*workers[i]));
    }
    run(*workers.front());
    for (auto& t : threads) {
      t.join();
    }
    if (failed) {
      return 1;
    }
  } catch (const std::exception& e) {
    log.error("fatal", {{"error", e.what()}});
    return 1;
  }
  return 0;
}
