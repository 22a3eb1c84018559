/* cli/cmd_bench_rounds.c: `swiftinfer bench-rounds` — `run`'s multi-round
 * conversation as a speed benchmark: the first N MT-Bench user turns in one
 * conversation (S sinks, a window of max_input + max_new - S as SwiftInfer's
 * recent size), every reply exactly max_new tokens (EOS ignored), greedy
 * decoding by `run`'s own path (si_conversation_next), the argmax taken on
 * the backend (on a GPU only token ids cross the bus, the reply's first
 * token included: it is picked in the prefill's pass). Several reply lengths share one model
 * load. --dump-prompts writes each round's prompt length, so that another
 * implementation (scripts/bench_torch_streaming.py) can replay the same
 * shape: with synthetic weights the speed does not depend on the ids. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int rounds, max_new;
    int64_t prompt_tokens, generated;
    double prefill_s, decode_s;
} bench_result;

static int run_setting(si_model *m, const cli_common *c, si_template tpl, json_t *turns, int rounds, int max_input,
                       int max_new, FILE *dump, bench_result *res) {
    si_conversation_params cp = si_conversation_default_params();
    cp.tpl = tpl;
    cp.session.sink_tokens = c->sink_tokens;
    cp.session.window = c->window > 0 ? c->window : max_input + max_new - c->sink_tokens;
    cp.max_input_tokens = max_input;
    cp.ignore_eos = true;
    si_sampler_params gp = si_sampler_default_params();
    gp.temperature = 0;
    gp.repeat_penalty = 1;
    si_conversation *conv = si_conversation_create(m, &cp);
    si_sampler *greedy = conv ? si_sampler_create(&gp) : NULL;
    *res = (bench_result){.rounds = rounds, .max_new = max_new};
    int rc = greedy ? 0 : -1;
    for (int r = 0; rc == 0 && r < rounds; r++) {
        int64_t n_prompt = 0;
        double t0 = cli_now();
        rc = si_conversation_user(conv, json_string_value(json_array_get(turns, (size_t)r)), greedy, &n_prompt);
        double t1 = cli_now();
        for (int k = 0; rc == 0 && k < max_new; k++)
            if (si_conversation_next(conv, greedy) < 0) rc = -1;
        double t2 = cli_now();
        if (dump) fprintf(dump, "{\"round\": %d, \"prompt_tokens\": %lld}\n", r, (long long)n_prompt);
        res->prompt_tokens += n_prompt;
        res->generated += max_new;
        res->prefill_s += t1 - t0;
        res->decode_s += t2 - t1;
    }
    if (rc) fprintf(stderr, "swiftinfer: %s\n", si_last_error());
    si_sampler_free(greedy);
    si_conversation_free(conv);
    return rc;
}

/* Parses "512,1024" into up to cap numbers; their count, or -1. */
static int parse_list(const char *s, int *out, int cap) {
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1 << 20 || n == cap || (*end && *end != ',')) return -1;
        out[n++] = (int)v;
        s = *end ? end + 1 : end;
    }
    return n;
}

int cmd_bench_rounds(int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    const char *input = NULL, *template_name = "auto", *max_new_list = "512", *dump_path = NULL, *json_path = NULL;
    int rounds = 20, warmup = 16, max_input = 2048;
    arg_spec specs[32];
    int n = 0;
    specs[n++] = (arg_spec){"--input", ARG_STR, &input, "MT-Bench JSONL (default: shared/data/mt_bench.jsonl)"};
    specs[n++] = (arg_spec){"--rounds", ARG_INT, &rounds, "user turns to play (default 20)"};
    specs[n++] = (arg_spec){"--max-new-tokens", ARG_STR, &max_new_list, "reply length, or a list: 512,1024 (default 512)"};
    specs[n++] = (arg_spec){"--max-input-tokens", ARG_INT, &max_input, "cut longer user turns (default 2048)"};
    specs[n++] = (arg_spec){"--template", ARG_STR, &template_name, "auto|chatml|llama2|vicuna|llama3"};
    specs[n++] = (arg_spec){"--warmup", ARG_INT, &warmup, "tokens decoded once before timing (default 16)"};
    specs[n++] = (arg_spec){"--dump-prompts", ARG_STR, &dump_path, "write each round's prompt length (JSONL)"};
    specs[n++] = (arg_spec){"--json", ARG_STR, &json_path, "append one JSON line of results per reply length"};
    n = cli_model_specs(&c, specs, n);
    n = cli_cache_specs(&c, specs, n);
    if (args_parse(argc, argv, 2, specs, n)) return 2;
    if (c.help) {
        args_usage("bench-rounds", "--model PATH [--device cuda] [--max-new-tokens 512,1024] [options]", specs, n);
        return 0;
    }
    int max_new[8];
    int n_settings = parse_list(max_new_list, max_new, 8);
    si_template tpl;
    if (n_settings < 1 || rounds < 1 || max_input < 1 || si_template_parse(template_name, &tpl)) {
        fprintf(stderr, "swiftinfer bench-rounds: bad --max-new-tokens, --rounds, --max-input-tokens or --template\n");
        return 2;
    }
    if (!input) input = cli_shared_path("data/mt_bench.jsonl");
    json_t *turns = input ? cli_load_turns(input) : NULL;
    if (!turns || (int)json_array_size(turns) < rounds) {
        fprintf(stderr, "swiftinfer bench-rounds: need %d turns: pass --input or set SWIFTINFER_SHARED\n", rounds);
        json_decref(turns);
        return 2;
    }
    si_model *m = cli_load_model(&c);
    FILE *dump = m && dump_path ? fopen(dump_path, "w") : NULL;
    FILE *json = m && json_path ? fopen(json_path, "a") : NULL;
    int rc = !m || (dump_path && !dump) || (json_path && !json);
    bench_result r;
    /* decode graphs, cuBLAS and first-touch costs stay out of the timing */
    if (!rc && warmup > 0) rc = run_setting(m, &c, tpl, turns, 1, max_input, warmup, NULL, &r) != 0;
    si_model_info info;
    if (m) si_model_get_info(m, &info);
    for (int i = 0; !rc && i < n_settings; i++) {
        if (run_setting(m, &c, tpl, turns, rounds, max_input, max_new[i], i == 0 ? dump : NULL, &r)) {
            rc = 1;
            break;
        }
        double dec = r.generated / r.decode_s, e2e = r.generated / (r.prefill_s + r.decode_s);
        printf("bench-rounds %s %s max_new=%d rounds=%d: prompt %lld tok in %.2f s | %lld tok in %.2f s | "
               "decode %.2f tok/s | end-to-end %.2f tok/s\n",
               info.device, info.weight_type, r.max_new, r.rounds, (long long)r.prompt_tokens, r.prefill_s,
               (long long)r.generated, r.decode_s, dec, e2e);
        if (json)
            fprintf(json,
                    "{\"impl\": \"swiftinfer\", \"device\": \"%s\", \"weights\": \"%s\", \"max_new\": %d, \"rounds\": %d, "
                    "\"prompt_tokens\": %lld, \"generated\": %lld, \"prefill_s\": %.4f, \"decode_s\": %.4f, "
                    "\"decode_tok_s\": %.3f, \"e2e_tok_s\": %.3f}\n",
                    info.device, info.weight_type, r.max_new, r.rounds, (long long)r.prompt_tokens,
                    (long long)r.generated, r.prefill_s, r.decode_s, dec, e2e);
        fflush(stdout);
    }
    if (dump) fclose(dump);
    if (json) fclose(json);
    si_model_free(m);
    json_decref(turns);
    return rc ? 1 : 0;
}
