/* cli/cmd_perplexity.c: `swiftinfer perplexity` — token-by-token negative
 * log-likelihood of a text under one of four cache regimes (StreamingLLM's
 * evaluation):
 *   streaming  S sinks + a rolling window of W (the product)
 *   window     the rolling window alone (S = 0)
 *   recompute  every token recomputed from scratch over the S sinks and the
 *              W tokens before it (the paper's sliding window with
 *              re-computation: ~W forward tokens per token)
 *   dense      no eviction at all, up to the model's trained context
 * In every mode a token sees at most S + W earlier tokens, so the modes
 * compare like for like. */
#include "common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT_BYTES ((size_t)1 << 30)

typedef struct {
    const int32_t *ids;
    int64_t n; /* predictions: of ids[i + 1] given what precedes it, i < n */
    int64_t stride; /* only every stride-th prediction is scored */
    int64_t to_score;
    int64_t scored;
    double nll_sum;
    FILE *csv;
    double t_start, t_last_print;
} ppl_state;

static double token_nll(const float *logits, int n_vocab, int32_t target) {
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j < n_vocab; j++)
        if (logits[j] > mx) mx = logits[j];
    for (int j = 0; j < n_vocab; j++) sum += exp(logits[j] - mx);
    return log(sum) + mx - logits[target];
}

static bool scored(const ppl_state *st, int64_t i) { return (i + 1) % st->stride == 0; }

static void record(ppl_state *st, int64_t i, double nll) {
    st->nll_sum += nll;
    st->scored++;
    if (st->csv) fprintf(st->csv, "%lld,%d,%.6f,%.6f\n", (long long)i + 1, st->ids[i + 1], nll, exp(st->nll_sum / st->scored));
    double now = cli_now();
    if (now - st->t_last_print > 0.5 || st->scored == st->to_score) {
        int width = 30, done = (int)(width * st->scored / st->to_score);
        fprintf(stderr, "\r[%.*s%*s] %lld/%lld tokens, %.1f tokens/s, perplexity %.4f ", done,
                "##############################", width - done, "", (long long)st->scored, (long long)st->to_score,
                st->scored / (now - st->t_start), exp(st->nll_sum / st->scored));
        st->t_last_print = now;
    }
}

static int on_logits(void *user, int64_t i, const float *logits, int n_vocab) {
    ppl_state *st = user;
    if (i < st->n && scored(st, i)) record(st, i, token_nll(logits, n_vocab, st->ids[i + 1]));
    return 0;
}

static int run_recompute(si_session *s, int n_vocab, int sinks, int window, ppl_state *st, int32_t *ctx) {
    for (int64_t i = 0; i < st->n; i++) {
        if (!scored(st, i)) continue;
        int64_t begin = i - window > sinks ? i - window : sinks;
        int n = 0;
        for (int64_t j = 0; j < sinks && j <= i; j++) ctx[n++] = st->ids[j];
        for (int64_t j = begin; j <= i; j++) ctx[n++] = st->ids[j];
        si_session_reset(s);
        if (si_session_feed(s, ctx, n)) return -1;
        record(st, i, token_nll(si_session_logits(s), n_vocab, st->ids[i + 1]));
    }
    return 0;
}

static int32_t *tokenize_file(const si_tokenizer *tok, const char *path, int64_t *n_out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "swiftinfer: %s: cannot open\n", path);
        return NULL;
    }
    char *text = malloc(MAX_TEXT_BYTES);
    size_t len = text ? fread(text, 1, MAX_TEXT_BYTES, f) : 0;
    fclose(f);
    if (!text) return NULL;
    int flags = si_tokenizer_wants_bos(tok) ? SI_ENCODE_BOS : 0;
    int64_t n = si_tokenize(tok, text, len, flags, NULL, 0);
    int32_t *ids = n > 0 ? malloc(sizeof(int32_t) * (size_t)n) : NULL;
    if (ids && si_tokenize(tok, text, len, flags, ids, n) != n) {
        free(ids);
        ids = NULL;
    }
    free(text);
    if (!ids) fprintf(stderr, "swiftinfer: %s: %s\n", path, n < 0 ? si_last_error() : "no tokens");
    *n_out = n;
    return ids;
}

int cmd_perplexity(int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *text = NULL, *mode = "streaming", *csv_path = NULL;
    int64_t max_tokens = 0, stride = 1;
    arg_spec specs[24];
    int n = 0;
    specs[n++] = (arg_spec){"--text", ARG_STR, &text, "text file to score (required)"};
    specs[n++] = (arg_spec){"--mode", ARG_STR, &mode, "streaming|window|recompute|dense (default streaming)"};
    specs[n++] = (arg_spec){"--max-tokens", ARG_I64, &max_tokens, "score only the first N tokens"};
    specs[n++] = (arg_spec){"--stride", ARG_I64, &stride, "score every K-th token only (all are still fed; recompute skips the rest)"};
    specs[n++] = (arg_spec){"--csv", ARG_STR, &csv_path, "write one row per token: index,token,nll,running_ppl"};
    n = cli_model_specs(&c, specs, n);
    n = cli_cache_specs(&c, specs, n);
    if (args_parse(argc, argv, 2, specs, n)) return 2;
    if (c.help) {
        args_usage("perplexity", "--text FILE [--mode M] [--sink-tokens S] [--window W] [options]", specs, n);
        return 0;
    }
    bool streaming = !strcmp(mode, "streaming"), window = !strcmp(mode, "window");
    bool recompute = !strcmp(mode, "recompute"), dense = !strcmp(mode, "dense");
    if (!text || !(streaming || window || recompute || dense) || max_tokens < 0 || stride < 1) {
        fprintf(stderr, "swiftinfer perplexity: %s\n", !text ? "--text is required" : max_tokens < 0 || stride < 1 ? "--max-tokens must be >= 0 and --stride >= 1" : "--mode must be streaming, window, recompute or dense");
        return 2;
    }
    int rc = 1;
    int32_t *ids = NULL, *ctx = NULL;
    si_session *s = NULL;
    FILE *csv = NULL;
    si_model *m = cli_load_model(&c);
    if (!m) return 1;
    si_model_info info;
    si_model_get_info(m, &info);
    int64_t n_ids = 0;
    ids = tokenize_file(si_model_tokenizer(m), text, &n_ids);
    if (!ids) goto done;
    if (max_tokens > 0 && n_ids > max_tokens) n_ids = max_tokens;

    si_session_params p = si_session_default_params();
    p.sink_tokens = window || dense ? 0 : c.sink_tokens;
    p.window = c.window > 0 ? c.window : 1020;
    if (dense) {
        p.window = info.ctx_train;
        p.dense = true;
        if (n_ids > info.ctx_train) n_ids = info.ctx_train;
    }
    if (recompute) p.window = p.sink_tokens + p.window + 1; /* holds one whole recomputed context */
    s = si_session_create(m, &p);
    if (!s) {
        fprintf(stderr, "swiftinfer: %s\n", si_last_error());
        goto done;
    }
    if (csv_path) {
        csv = fopen(csv_path, "w");
        if (!csv) {
            fprintf(stderr, "swiftinfer: %s: cannot write\n", csv_path);
            goto done;
        }
        fprintf(csv, "index,token,nll,running_ppl\n");
    }
    ppl_state st = {.ids = ids, .n = n_ids - 1, .stride = stride, .to_score = (n_ids - 1) / stride, .csv = csv,
                    .t_start = cli_now()};
    if (st.to_score < 1) {
        fprintf(stderr, "swiftinfer: %s: fewer than 2 tokens\n", text);
        goto done;
    }
    int S = window || dense ? 0 : c.sink_tokens, W = c.window > 0 ? c.window : 1020;
    fprintf(stderr, "perplexity: %s, mode %s, sinks %d, window %d, %lld tokens\n", c.model, mode, S, dense ? info.ctx_train : W, (long long)n_ids);
    int r;
    if (recompute) {
        ctx = malloc(sizeof(int32_t) * ((size_t)S + W + 1));
        r = ctx ? run_recompute(s, info.n_vocab, S, W, &st, ctx) : -1;
    } else {
        r = si_session_feed_all(s, ids, st.n, on_logits, &st);
    }
    if (r) {
        fprintf(stderr, "\nswiftinfer: %s\n", si_last_error());
        goto done;
    }
    double secs = cli_now() - st.t_start;
    printf("\nmode=%s sinks=%d window=%d stride=%lld tokens=%lld nll=%.6f perplexity=%.4f seconds=%.1f tokens_per_s=%.1f\n", mode, S,
           dense ? info.ctx_train : W, (long long)stride, (long long)st.scored, st.nll_sum / st.scored, exp(st.nll_sum / st.scored), secs,
           st.scored / secs);
    rc = 0;
done:
    if (csv) fclose(csv);
    free(ctx);
    free(ids);
    si_session_free(s);
    si_model_free(m);
    return rc;
}
