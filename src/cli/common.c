#include "common.h"

#include <jansson.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_INPUT_FILE ((size_t)64 << 20)
#define MAX_ROUNDS 100000
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

const char *cli_shared_path(const char *rel) {
    static char path[PATH_MAX];
    const char *env = getenv("SWIFTINFER_SHARED");
    if (env && *env) {
        snprintf(path, sizeof path, "%s/%s", env, rel);
        return access(path, R_OK) == 0 ? path : NULL;
    }
    char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0) return NULL;
    dir[n] = '\0';
    for (int up = 0; up < 8; up++) {
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) break;
        *slash = '\0';
        int len = snprintf(path, sizeof path, "%s/shared/%s", dir, rel);
        if (len > 0 && (size_t)len < sizeof path && access(path, R_OK) == 0) return path;
    }
    return NULL;
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

/* All turns of all questions, in order; NULL with a message on bad input. */
json_t *cli_load_turns(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "swiftinfer: %s: cannot open\n", path);
        return NULL;
    }
    json_t *turns = json_array();
    char *line = NULL;
    size_t cap = 0, total = 0;
    ssize_t len;
    long no = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        no++;
        total += (size_t)len;
        if (total > MAX_INPUT_FILE) {
            fprintf(stderr, "swiftinfer: %s: larger than %zu bytes\n", path, MAX_INPUT_FILE);
            goto bad;
        }
        if (strspn(line, " \t\r\n") == (size_t)len) continue;
        json_error_t err;
        json_t *q = json_loadb(line, (size_t)len, 0, &err);
        json_t *t = q ? json_object_get(q, "turns") : NULL;
        if (!json_is_array(t)) {
            fprintf(stderr, "swiftinfer: %s:%ld: %s\n", path, no, q ? "no \"turns\" list" : err.text);
            json_decref(q);
            goto bad;
        }
        for (size_t i = 0; i < json_array_size(t); i++) {
            if (!json_is_string(json_array_get(t, i))) {
                fprintf(stderr, "swiftinfer: %s:%ld: turn %zu is not a string\n", path, no, i);
                json_decref(q);
                goto bad;
            }
            if (json_array_size(turns) < MAX_ROUNDS) json_array_append(turns, json_array_get(t, i));
        }
        json_decref(q);
    }
    free(line);
    fclose(f);
    return turns;
bad:
    free(line);
    fclose(f);
    json_decref(turns);
    return NULL;
}
