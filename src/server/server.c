/* server/server.c: the server's life — configuration defaults, start-up in
 * dependency order (model, session store, metrics, scheduler, HTTP) and
 * shutdown in reverse (stop accepting, end the jobs, close connections). */
#include "http.h"
#include "sessions.h"
#include "state.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void srv_config_defaults(srv_config *c) {
    memset(c, 0, sizeof *c);
    c->device = "cpu";
    c->batch = 256;
    c->host = "127.0.0.1";
    c->port = 8080;
    c->sink_tokens = 4;
    c->tpl = SI_TEMPLATE_AUTO;
    c->max_sessions = 32;
    c->memory_budget = (size_t)4096 << 20;
    c->parallel = 16;
    c->max_queue = 64;
    c->prefill_chunk = 32;
    c->max_connections = 64;
    c->timeout_s = 30;
    c->max_body = (size_t)1 << 20;
    c->max_message_bytes = (size_t)256 << 10;
    c->max_messages = 4096;
    c->max_tokens = 4096;
    c->default_max_tokens = 512;
    c->sampling = si_sampler_default_params();
}

/* The name clients use for the model: the file or folder name, less .gguf. */
static void default_model_id(const char *path, char *out, size_t cap) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    const char *base = path;
    for (size_t i = 0; i < len; i++)
        if (path[i] == '/') base = path + i + 1;
    size_t n = (size_t)(path + len - base);
    if (n > 5 && strncmp(base + n - 5, ".gguf", 5) == 0) n -= 5;
    snprintf(out, cap, "%.*s", (int)n, base);
}

static int check_config(const srv_config *c) {
    const char *bad = NULL;
    if (c->port < 0 || c->port > 65535) bad = "--port must be 0..65535";
    else if (c->max_sessions < 1) bad = "--max-sessions must be positive";
    else if (c->parallel < 1 || c->parallel > 256) bad = "--parallel must be 1..256";
    else if (c->max_queue < 1 || c->max_queue > 65536) bad = "--max-queue must be 1..65536";
    else if (c->prefill_chunk < 1 || c->prefill_chunk > c->batch) bad = "--prefill-chunk must be 1..--batch";
    else if (c->max_connections < 1 || c->max_connections > 4096) bad = "--max-connections must be 1..4096";
    else if (c->timeout_s < 1) bad = "--timeout must be positive";
    else if (c->max_body < 64) bad = "--max-body must be at least 64 bytes";
    else if (c->max_tokens < 1 || c->default_max_tokens < 1 || c->default_max_tokens > c->max_tokens)
        bad = "--max-tokens and --default-max-tokens must be positive, the default no larger";
    if (bad) fprintf(stderr, "swiftinfer serve: %s\n", bad);
    return bad ? -1 : 0;
}

srv_server *srv_start(const srv_config *cfg) {
    if (check_config(cfg)) return NULL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    if (getaddrinfo(cfg->host, port, &hints, &ai) || !ai) {
        fprintf(stderr, "swiftinfer serve: --host '%s' is not a numeric IPv4 or IPv6 address\n", cfg->host);
        return NULL;
    }
    srv_server *s = calloc(1, sizeof *s);
    if (!s) {
        freeaddrinfo(ai);
        return NULL;
    }
    s->cfg = *cfg;
    s->created = (int64_t)time(NULL);
    if (cfg->model_id && *cfg->model_id)
        snprintf(s->model_id, sizeof s->model_id, "%s", cfg->model_id);
    else
        default_model_id(cfg->model_path, s->model_id, sizeof s->model_id);
    s->limits = (srv_limits){.model_id = s->model_id, .max_messages = cfg->max_messages,
                             .max_message_bytes = cfg->max_message_bytes, .max_tokens = cfg->max_tokens};

    si_model_params mp = si_model_default_params();
    mp.n_threads = cfg->threads;
    mp.device = cfg->device;
    mp.max_batch = cfg->batch > cfg->parallel ? cfg->batch : cfg->parallel;
    s->model = si_model_load(cfg->model_path, &mp);
    srv_store store = {0};
    srv_sched_config sc = {.parallel = cfg->parallel, .max_queue = cfg->max_queue, .prefill_chunk = cfg->prefill_chunk,
                           .default_max_tokens = cfg->default_max_tokens, .sampling = cfg->sampling, .tpl = cfg->tpl};
    if (!s->model) goto engine_fail;
    if (sc.tpl == SI_TEMPLATE_AUTO) sc.tpl = si_template_detect(si_model_tokenizer(s->model));
    if (sc.tpl == SI_TEMPLATE_AUTO) {
        fprintf(stderr, "swiftinfer serve: the model names no known chat template; pass --template\n");
        goto fail;
    }
    si_session_params sp = si_session_default_params();
    sp.sink_tokens = cfg->sink_tokens;
    sp.window = cfg->window;
    sp.chunk = cfg->prefill_chunk;
    if (srv_store_init(&store, s->model, &sp, cfg->max_sessions, cfg->memory_budget)) {
        srv_store_free(&store);
        goto engine_fail;
    }
    if (cfg->state_dir) {
        struct stat sb;
        if (mkdir(cfg->state_dir, 0700) != 0 && (stat(cfg->state_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
            fprintf(stderr, "swiftinfer serve: --state-dir %s is not a directory that can be made\n", cfg->state_dir);
            srv_store_free(&store);
            goto fail;
        }
        srv_state_load(&store, cfg->state_dir);
    }
    s->metrics = srv_metrics_create();
    s->sched = s->metrics ? srv_sched_create(s->model, &store, s->metrics, &sc) : NULL;
    if (!s->sched || srv_sched_start(s->sched)) {
        srv_store_free(&store);
        fprintf(stderr, "swiftinfer serve: out of memory\n");
        goto fail;
    }
    if (srv_http_start(s, ai->ai_addr, ai->ai_family == AF_INET6)) goto fail;
    freeaddrinfo(ai);
    return s;
engine_fail:
    fprintf(stderr, "swiftinfer serve: %s\n", si_last_error());
fail:
    freeaddrinfo(ai);
    srv_stop(s);
    return NULL;
}

int srv_port(const srv_server *s) { return s->port; }

void srv_stop(srv_server *s) {
    if (!s) return;
    srv_http_quiesce(s);
    /* Ending the jobs first wakes every connection thread that waits on one,
     * so that stopping the daemon (which joins those threads) cannot hang;
     * the scheduler is freed only once no thread can reach it. */
    srv_sched_stop(s->sched);
    if (s->daemon || s->watchdog_running) srv_http_stop(s);
    if (s->sched && s->cfg.state_dir) srv_state_save(srv_sched_store(s->sched), s->cfg.state_dir);
    srv_sched_free(s->sched);
    srv_metrics_free(s->metrics);
    si_model_free(s->model);
    free(s);
}
