#include "common.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MODEL_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"

const char *cli_default_model(void) {
    static char path[PATH_MAX];
    const char *env = getenv("SWIFTINFER_MODEL");
    if (env && *env) return env;
    const char *cache = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (cache && *cache)
        snprintf(path, sizeof path, "%s/swiftinfer/%s", cache, DEFAULT_MODEL_FILE);
    else
        snprintf(path, sizeof path, "%s/.cache/swiftinfer/%s", home ? home : ".", DEFAULT_MODEL_FILE);
    return access(path, R_OK) == 0 ? path : NULL;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_common_init(cli_common *c) {
    si_sampler_params sp = si_sampler_default_params();
    *c = (cli_common){
        .model = cli_default_model(),
        .device = "cpu",
        .threads = 0,
        .batch = 256,
        .sink_tokens = 4,
        .window = 0,
        .temperature = sp.temperature,
        .top_k = sp.top_k,
        .top_p = sp.top_p,
        .repeat_penalty = sp.repeat_penalty,
        .repeat_last_n = sp.repeat_last_n,
        .seed = (int64_t)sp.seed,
    };
}

int cli_model_specs(cli_common *c, arg_spec *s, int n) {
    s[n++] = (arg_spec){"--model", ARG_STR, &c->model, "model: a .gguf file or a Hugging Face folder (default: the fetched SmolLM2)"};
    s[n++] = (arg_spec){"--threads", ARG_INT, &c->threads, "CPU threads (default: all cores)"};
    s[n++] = (arg_spec){"--device", ARG_STR, &c->device, "cpu or cuda (default cpu)"};
    s[n++] = (arg_spec){"--batch", ARG_INT, &c->batch, "most tokens per forward pass (default 256)"};
    s[n++] = (arg_spec){"--help", ARG_FLAG, &c->help, "show this help"};
    return n;
}

int cli_cache_specs(cli_common *c, arg_spec *s, int n) {
    s[n++] = (arg_spec){"--sink-tokens", ARG_INT, &c->sink_tokens, "attention sinks kept forever (default 4)"};
    s[n++] = (arg_spec){"--window", ARG_INT, &c->window, "recent tokens kept (default: context, at most 2048, minus sinks)"};
    return n;
}

int cli_sampling_specs(cli_common *c, arg_spec *s, int n) {
    s[n++] = (arg_spec){"--temp", ARG_FLOAT, &c->temperature, "temperature, 0 = greedy (default 0.7)"};
    s[n++] = (arg_spec){"--top-k", ARG_INT, &c->top_k, "top-k, 0 = off (default 40)"};
    s[n++] = (arg_spec){"--top-p", ARG_FLOAT, &c->top_p, "top-p, 1 = off (default 0.95)"};
    s[n++] = (arg_spec){"--repeat-penalty", ARG_FLOAT, &c->repeat_penalty, "repetition penalty, 1 = off (default 1.1)"};
    s[n++] = (arg_spec){"--repeat-last-n", ARG_INT, &c->repeat_last_n, "tokens the penalty looks back over (default 64)"};
    s[n++] = (arg_spec){"--seed", ARG_I64, &c->seed, "random seed"};
    return n;
}

si_model *cli_load_model(const cli_common *c) {
    if (!c->model) {
        fprintf(stderr, "swiftinfer: no model: pass --model PATH, set SWIFTINFER_MODEL, or run scripts/fetch-model.sh\n");
        return NULL;
    }
    si_model_params p = si_model_default_params();
    p.n_threads = c->threads;
    p.device = c->device;
    p.max_batch = c->batch;
    si_model *m = si_model_load(c->model, &p);
    if (!m) fprintf(stderr, "swiftinfer: %s\n", si_last_error());
    return m;
}

si_session *cli_create_session(const cli_common *c, si_model *m) {
    si_session_params p = si_session_default_params();
    p.sink_tokens = c->sink_tokens;
    p.window = c->window;
    si_session *s = si_session_create(m, &p);
    if (!s) fprintf(stderr, "swiftinfer: %s\n", si_last_error());
    return s;
}

si_sampler *cli_create_sampler(const cli_common *c) {
    si_sampler_params p = {.temperature = c->temperature, .top_k = c->top_k, .top_p = c->top_p,
                           .repeat_penalty = c->repeat_penalty, .repeat_last_n = c->repeat_last_n,
                           .seed = (uint64_t)c->seed};
    si_sampler *s = si_sampler_create(&p);
    if (!s) fprintf(stderr, "swiftinfer: %s\n", si_last_error());
    return s;
}
