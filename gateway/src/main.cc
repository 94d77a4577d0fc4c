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

#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr const char* usage =
    "usage: mcpgw [--config FILE] [--log-level debug|info|warn|error]\n"
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

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "audit") == 0 && std::strcmp(argv[2], "verify") == 0) {
    return audit_verify(argc, argv);
  }
  std::string config_path;
  std::string check_path;
  std::string level_override;
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

  try {
    // One thread runs the io_context, so its reactor needs no locks. The scheduler keeps
    // them: the resolver completes host name look-ups from a helper thread.
    boost::asio::io_context ioc(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
    std::shared_ptr<mcpgw::redis_client> redis;
    if (config.session_store.type == "redis") {
      redis = std::make_shared<mcpgw::redis_client>(
          ioc.get_executor(), mcpgw::redis_options_from(config.session_store), log);
    }
    std::unique_ptr<mcpgw::metrics> stats;
    if (config.observability.metrics) {
      stats = std::make_unique<mcpgw::metrics>();
    }
    auto store = mcpgw::make_session_store(config.session_store, redis);
    if (stats) {
      store = std::make_shared<mcpgw::observed_session_store>(std::move(store), *stats);
    }
    auto chain = mcpgw::filter_chain::build({ioc.get_executor(), log, config, redis, stats.get()});
    mcpgw::gateway_server server(ioc, config, log, chain, store, redis, stats.get());
    // Signals are caught before the listeners open, so a signal right after start drains too.
    boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
    int received = 0;
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int signo) {
          if (ec) {
            return;
          }
          log.info("signal received", {{"signal", signo == SIGINT ? "SIGINT" : "SIGTERM"}});
          if (++received == 1) {
            server.stop();
            signals.async_wait(on_signal);
          } else {
            ioc.stop();  // a second signal skips the rest of the drain
          }
        };
    signals.async_wait(on_signal);
    server.start();
    ioc.run();
  } catch (const std::exception& e) {
    log.error("fatal", {{"error", e.what()}});
    return 1;
  }
  return 0;
}
