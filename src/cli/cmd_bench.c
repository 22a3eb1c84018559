/* cli/cmd_bench.c: `swiftinfer bench` — prompt processing and generation
 * speed like llama-bench (mean ± stddev over repetitions, optionally after
 * filling the cache to a depth), and `--stream N`: N tokens streamed one at
 * a time through a StreamingLLM cache, with resident memory and time per
 * token at checkpoints, to show that both stay flat. */
#include "common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng_state = 0x1234567;

static int32_t random_token(int n_vocab) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (int32_t)(rng_state % (uint64_t)n_vocab);
}

static void fill_random(int32_t *ids, int64_t n, int n_vocab) {
    for (int64_t i = 0; i < n; i++) ids[i] = random_token(n_vocab);
}

static double rss_mib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

typedef struct {
    double mean, sd;
} summary;

static summary summarize(const double *x, int n) {
    summary s = {0, 0};
    for (int i = 0; i < n; i++) s.mean += x[i];
    s.mean /= n;
    for (int i = 0; i < n; i++) s.sd += (x[i] - s.mean) * (x[i] - s.mean);
    s.sd = n > 1 ? sqrt(s.sd / (n - 1)) : 0;
    return s;
}

/* One measurement: a fresh cache filled to depth, then either one prompt of
 * n tokens (prefill) or n single-token steps (generation). Returns tokens/s. */
static double measure(si_session *s, int32_t *ids, int depth, int n, bool generation, int n_vocab) {
    si_session_reset(s);
    if (depth > 0) {
        fill_random(ids, depth, n_vocab);
        if (si_session_feed(s, ids, depth)) return -1;
    }
    fill_random(ids, n, n_vocab);
    double t0 = cli_now();
    if (generation) {
        for (int i = 0; i < n; i++)
            if (si_session_feed(s, ids + i, 1)) return -1;
    } else if (si_session_feed(s, ids, n)) {
        return -1;
    }
    return n / (cli_now() - t0);
}

static int stream_test(si_session *s, int64_t total, int window, int n_vocab) {
    int64_t checkpoints[] = {2 * (int64_t)window, 10000, 50000, 100000, 150000, 200000, 500000, 1000000};
    const int span = 256; /* tokens timed around each checkpoint */
    printf("| tokens streamed | time per token (ms, mean of %d) | RSS (MiB) | cache occupancy | evicted |\n|---:|---:|---:|---:|---:|\n", span);
    double t_span = 0;
    for (int64_t i = 0; i < total; i++) {
        int32_t tok = random_token(n_vocab);
        double t0 = cli_now();
        if (si_session_feed(s, &tok, 1)) return -1;
        double dt = cli_now() - t0;
        for (size_t k = 0; k < sizeof checkpoints / sizeof checkpoints[0]; k++) {
            int64_t cp = checkpoints[k];
            if (cp > total) continue;
            if (i + 1 > cp - span && i + 1 <= cp) t_span += dt;
            if (i + 1 == cp) {
                si_session_stats st;
                si_session_get_stats(s, &st);
                printf("| %lld | %.3f | %.1f | %lld | %lld |\n", (long long)cp, 1000 * t_span / span, rss_mib(),
                       (long long)st.occupancy, (long long)st.evicted);
                fflush(stdout);
                t_span = 0;
            }
        }
    }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    int prompt = 512, gen = 128, reps = 5, depth = 0;
    int64_t stream = 0;
    bool json = false;
    arg_spec specs[32];
    int n = 0;
    specs[n++] = (arg_spec){"--prompt-tokens", ARG_INT, &prompt, "prompt processing test size (default 512; 0 = skip)"};
    specs[n++] = (arg_spec){"--gen-tokens", ARG_INT, &gen, "generation test size (default 128; 0 = skip)"};
    specs[n++] = (arg_spec){"--repetitions", ARG_INT, &reps, "repetitions of each test (default 5)"};
    specs[n++] = (arg_spec){"--depth", ARG_INT, &depth, "tokens in the cache before each test (default 0)"};
    specs[n++] = (arg_spec){"--stream", ARG_I64, &stream, "instead: stream N tokens one by one, report RSS and ms/token"};
    specs[n++] = (arg_spec){"--json", ARG_FLAG, &json, "print the results as JSON lines"};
    n = cli_model_specs(&c, specs, n);
    n = cli_cache_specs(&c, specs, n);
    if (args_parse(argc, argv, 2, specs, n)) return 2;
    if (c.help) {
        args_usage("bench", "[--prompt-tokens N] [--gen-tokens N] [--repetitions R] [--depth D] [--stream N] [options]", specs, n);
        return 0;
    }
    if (prompt < 0 || gen < 0 || reps < 1 || depth < 0 || stream < 0) {
        fprintf(stderr, "swiftinfer bench: sizes must not be negative, repetitions at least 1\n");
        return 2;
    }
    si_model *m = cli_load_model(&c);
    if (!m) return 1;
    si_model_info info;
    si_model_get_info(m, &info);
    si_session_params sp = si_session_default_params();
    sp.sink_tokens = c.sink_tokens;
    /* By default nothing is evicted during a test; --window makes a full cache. */
    sp.window = c.window > 0 ? c.window : depth + (prompt > gen ? prompt : gen) + 1;
    if (stream && c.window <= 0) sp.window = 1020;
    si_session *s = si_session_create(m, &sp);
    int32_t *ids = malloc(sizeof(int32_t) * ((size_t)depth + prompt + gen + 1));
    int rc = 1;
    if (!s || !ids) {
        fprintf(stderr, "swiftinfer: %s\n", si_last_error());
        goto done;
    }
    if (stream) {
        printf("streaming %lld tokens one at a time: %s, %s, %d threads, %d sinks + %d window\n\n", (long long)stream,
               c.model, info.weight_type, info.n_threads, sp.sink_tokens, sp.window);
        rc = stream_test(s, stream, sp.window, info.n_vocab) ? 1 : 0;
        if (rc) fprintf(stderr, "swiftinfer: %s\n", si_last_error());
        goto done;
    }
    /* Warm-up: page the weights in and let the thread pool spin up. */
    if (measure(s, ids, 0, 16, false, info.n_vocab) < 0) goto fail;
    if (!json)
        printf("| model | weights | device | threads | test | depth | tokens/s |\n|---|---|---|---:|---|---:|---:|\n");
    const char *base = strrchr(c.model, '/') ? strrchr(c.model, '/') + 1 : c.model;
    for (int g = 0; g < 2; g++) {
        int size = g ? gen : prompt;
        if (size == 0) continue;
        double *x = malloc(sizeof(double) * (size_t)reps);
        for (int r = 0; r < reps; r++) {
            x[r] = measure(s, ids, depth, size, g == 1, info.n_vocab);
            if (x[r] < 0) {
                free(x);
                goto fail;
            }
        }
        summary sm = summarize(x, reps);
        free(x);
        if (json)
            printf("{\"model\": \"%s\", \"weights\": \"%s\", \"device\": \"%s\", \"threads\": %d, \"test\": \"%s%d\", \"depth\": %d, \"tokens_per_s\": %.3f, \"stddev\": %.3f, \"repetitions\": %d}\n",
                   base, info.weight_type, info.device, info.n_threads, g ? "tg" : "pp", size, depth, sm.mean, sm.sd, reps);
        else
            printf("| %s | %s | %s | %d | %s%d | %d | %.2f ± %.2f |\n", base, info.weight_type, info.device, info.n_threads,
                   g ? "tg" : "pp", size, depth, sm.mean, sm.sd);
        fflush(stdout);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "swiftinfer: %s\n", si_last_error());
done:
    free(ids);
    si_session_free(s);
    si_model_free(m);
    return rc;
}
