/* cli/cmd_serve.c: `swiftinfer serve` — the OpenAI-compatible HTTP server
 * (src/server). Runs until SIGINT or SIGTERM, then shuts down cleanly. */
#include "common.h"

#include "../server/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_serve(int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    srv_config sc;
    srv_config_defaults(&sc);
    const char *template_name = "auto";
    int max_body_kib = (int)(sc.max_body >> 10), budget_mib = (int)(sc.memory_budget >> 20);
    int max_message_kib = (int)(sc.max_message_bytes >> 10);
    bool quiet = false;
    arg_spec specs[48];
    int n = 0;
    specs[n++] = (arg_spec){"--host", ARG_STR, &sc.host, "numeric address to listen on (default 127.0.0.1, loopback only)"};
    specs[n++] = (arg_spec){"--port", ARG_INT, &sc.port, "TCP port (default 8080; 0 = any free port)"};
    specs[n++] = (arg_spec){"--api-key", ARG_STR, &sc.api_key, "require 'Authorization: Bearer KEY' (default: $SWIFTINFER_API_KEY)"};
    specs[n++] = (arg_spec){"--model-id", ARG_STR, &sc.model_id, "model name clients pass (default: the file name)"};
    specs[n++] = (arg_spec){"--template", ARG_STR, &template_name, "auto|chatml|llama2|vicuna|llama3"};
    specs[n++] = (arg_spec){"--max-sessions", ARG_INT, &sc.max_sessions, "conversations kept cached (default 32)"};
    specs[n++] = (arg_spec){"--memory-budget", ARG_INT, &budget_mib, "MiB of session caches at most (default 4096)"};
    specs[n++] = (arg_spec){"--parallel", ARG_INT, &sc.parallel, "requests decoded together in one batch (default 16)"};
    specs[n++] = (arg_spec){"--max-queue", ARG_INT, &sc.max_queue, "requests waiting before 429 (default 64)"};
    specs[n++] = (arg_spec){"--prefill-chunk", ARG_INT, &sc.prefill_chunk, "prompt tokens per pass between decode steps (default 32)"};
    specs[n++] = (arg_spec){"--max-connections", ARG_INT, &sc.max_connections, "open connections before 503 (default 64)"};
    specs[n++] = (arg_spec){"--timeout", ARG_INT, &sc.timeout_s, "seconds for a request to arrive, and keep-alive idle time (default 30)"};
    specs[n++] = (arg_spec){"--max-body", ARG_INT, &max_body_kib, "KiB of request body at most (default 1024)"};
    specs[n++] = (arg_spec){"--max-message", ARG_INT, &max_message_kib, "KiB of one message at most (default 256)"};
    specs[n++] = (arg_spec){"--max-tokens", ARG_INT, &sc.max_tokens, "largest max_tokens a request may ask for (default 4096)"};
    specs[n++] = (arg_spec){"--default-max-tokens", ARG_INT, &sc.default_max_tokens, "max_tokens when a request gives none (default 512)"};
    specs[n++] = (arg_spec){"--state-dir", ARG_STR, &sc.state_dir, "save cached conversations here at shutdown, restore them at start"};
    specs[n++] = (arg_spec){"--quiet", ARG_FLAG, &quiet, "no request log on stderr"};
    n = cli_model_specs(&c, specs, n);
    n = cli_cache_specs(&c, specs, n);
    n = cli_sampling_specs(&c, specs, n);
    if (args_parse(argc, argv, 2, specs, n)) return 2;
    if (c.help) {
        args_usage("serve", "[--model PATH] [--host 127.0.0.1] [--port 8080] [options]", specs, n);
        return 0;
    }
    if (si_template_parse(template_name, &sc.tpl) || max_body_kib < 1 || budget_mib < 1 || max_message_kib < 1) {
        fprintf(stderr, "swiftinfer serve: %s\n",
                max_body_kib < 1 || budget_mib < 1 || max_message_kib < 1 ? "sizes must be positive" : si_last_error());
        return 2;
    }
    if (!c.model) {
        fprintf(stderr, "swiftinfer: no model: pass --model PATH, set SWIFTINFER_MODEL, or run scripts/fetch-model.sh\n");
        return 2;
    }
    if (!sc.api_key) sc.api_key = getenv("SWIFTINFER_API_KEY");
    sc.model_path = c.model;
    sc.device = c.device;
    sc.threads = c.threads;
    sc.batch = c.batch;
    sc.sink_tokens = c.sink_tokens;
    sc.window = c.window;
    sc.max_body = (size_t)max_body_kib << 10;
    sc.max_message_bytes = (size_t)max_message_kib << 10;
    sc.memory_budget = (size_t)budget_mib << 20;
    sc.quiet = quiet;
    sc.sampling = (si_sampler_params){.temperature = c.temperature, .top_k = c.top_k, .top_p = c.top_p,
                                      .repeat_penalty = c.repeat_penalty, .repeat_last_n = c.repeat_last_n,
                                      .seed = (uint64_t)c.seed};

    /* Every thread the server starts inherits this mask, so the signals
     * reach only the sigwait below; SIGPIPE from a vanished client is ignored. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    srv_server *s = srv_start(&sc);
    if (!s) return 1;
    printf("swiftinfer serve: listening on http://%s%s%s:%d\n", strchr(sc.host, ':') ? "[" : "", sc.host,
           strchr(sc.host, ':') ? "]" : "", srv_port(s));
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "swiftinfer serve: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    srv_stop(s);
    return 0;
}
