/* cli/cmd_run.c: `swiftinfer run` — the main job. Every turn of every
 * MT-Bench question, in file order, is one round of a single endless
 * conversation (the cache is never reset), each reply streamed as it is
 * generated, with a line of statistics per round and totals at the end. */
#include "common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t prompt_tokens, generated;
    double prefill_s, decode_s;
    int64_t occupancy, evicted;
} round_stats;

static json_t *round_json(int i, const round_stats *r) {
    return json_pack("{s:i, s:I, s:I, s:f, s:f, s:f, s:f, s:I, s:I}", "round", i + 1, "prompt_tokens",
                     (json_int_t)r->prompt_tokens, "generated_tokens", (json_int_t)r->generated, "prefill_seconds",
                     r->prefill_s, "decode_seconds", r->decode_s, "prefill_tokens_per_s",
                     r->prefill_s > 0 ? r->prompt_tokens / r->prefill_s : 0.0, "decode_tokens_per_s",
                     r->decode_s > 0 ? r->generated / r->decode_s : 0.0, "cache_occupancy",
                     (json_int_t)r->occupancy, "evicted_so_far", (json_int_t)r->evicted);
}

int cmd_run(int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    c.temperature = 0; /* greedy, as the original StreamingLLM runs MT-Bench */
    const char *input = NULL, *template_name = "auto", *system = NULL, *stats_path = NULL;
    int only = 0, max_input = 2048, max_new = 1024;
    bool ignore_eos = false, quiet = false;
    arg_spec specs[40];
    int n = 0;
    specs[n++] = (arg_spec){"--input", ARG_STR, &input, "MT-Bench style JSONL: one {\"turns\": [...]} per line (required)"};
    specs[n++] = (arg_spec){"--only-n-first", ARG_INT, &only, "run only the first N rounds"};
    specs[n++] = (arg_spec){"--max-input-tokens", ARG_INT, &max_input, "cut longer user turns from the left (default 2048)"};
    specs[n++] = (arg_spec){"--max-new-tokens", ARG_INT, &max_new, "reply length limit (default 1024)"};
    specs[n++] = (arg_spec){"--template", ARG_STR, &template_name, "auto|chatml|llama2|vicuna|llama3"};
    specs[n++] = (arg_spec){"--system", ARG_STR, &system, "system message (default: the template's)"};
    specs[n++] = (arg_spec){"--ignore-eos", ARG_FLAG, &ignore_eos, "always generate --max-new-tokens (benchmarks)"};
    specs[n++] = (arg_spec){"--quiet", ARG_FLAG, &quiet, "print only the statistics"};
    specs[n++] = (arg_spec){"--stats-json", ARG_STR, &stats_path, "write per-round and total statistics as JSON"};
    n = cli_model_specs(&c, specs, n);
    n = cli_cache_specs(&c, specs, n);
    n = cli_sampling_specs(&c, specs, n);
    if (args_parse(argc, argv, 2, specs, n)) return 2;
    if (c.help) {
        args_usage("run", "--input FILE.jsonl [options]   (sampling defaults to greedy)", specs, n);
        return 0;
    }
    si_conversation_params cp = si_conversation_default_params();
    if (!input || only < 0 || max_input < 1 || max_new < 1 || si_template_parse(template_name, &cp.tpl)) {
        fprintf(stderr, "swiftinfer run: %s\n", !input ? "--input is required" : only < 0 || max_input < 1 || max_new < 1 ? "counts must be positive" : si_last_error());
        return 2;
    }
    json_t *turns = cli_load_turns(input);
    if (!turns) return 1;
    int rounds = (int)json_array_size(turns);
    if (only > 0 && only < rounds) rounds = only;

    int rc = 1;
    json_t *stats = NULL;
    si_conversation *conv = NULL;
    si_sampler *smp = NULL;
    si_streamer *out = NULL;
    si_model *m = cli_load_model(&c);
    if (!m) goto done;
    cp.session.sink_tokens = c.sink_tokens;
    /* SwiftInfer's recent size: room for one full prompt and reply. */
    cp.session.window = c.window > 0 ? c.window : max_input + max_new - c.sink_tokens;
    cp.system = system;
    cp.max_input_tokens = max_input;
    cp.ignore_eos = ignore_eos;
    conv = si_conversation_create(m, &cp);
    smp = conv ? cli_create_sampler(&c) : NULL;
    out = smp ? si_streamer_create(si_model_tokenizer(m), 0) : NULL;
    if (!out) {
        if (!conv) fprintf(stderr, "swiftinfer: %s\n", si_last_error());
        goto done;
    }
    si_model_info info;
    si_model_get_info(m, &info);
    si_session_stats ss;
    si_session_get_stats(si_conversation_session(conv), &ss);
    printf("model: %s (%s, %d layers) | device: %s, %d threads | template: %s | cache: %d sinks + %d window (%.1f MiB) | %d rounds\n",
           c.model, info.weight_type, info.n_layers, info.device, info.n_threads,
           si_template_name(si_conversation_template(conv)), ss.sink_tokens, ss.window, ss.cache_bytes / 1048576.0, rounds);
    stats = json_object();
    json_t *rounds_json = json_array();
    json_object_set_new(stats, "rounds", rounds_json);
    round_stats total = {0};
    double t_all = cli_now();
    for (int r = 0; r < rounds; r++) {
        const char *user = json_string_value(json_array_get(turns, (size_t)r));
        round_stats rs = {0};
        if (!quiet) printf("\n── round %d/%d ──\nUSER: %s\n\nASSISTANT: ", r + 1, rounds, user);
        fflush(stdout);
        double t0 = cli_now();
        if (si_conversation_user(conv, user, smp, &rs.prompt_tokens)) goto fail;
        double t1 = cli_now();
        while (rs.generated < max_new) {
            int32_t tok = si_conversation_next(conv, smp);
            if (tok == SI_REPLY_END) break;
            if (tok < 0) goto fail;
            rs.generated++;
            if (!quiet) {
                fputs(si_streamer_push(out, tok), stdout);
                fflush(stdout);
            }
        }
        if (si_conversation_end_reply(conv)) goto fail;
        if (!quiet) fputs(si_streamer_flush(out), stdout);
        double t2 = cli_now();
        rs.prefill_s = t1 - t0;
        rs.decode_s = t2 - t1;
        si_session_get_stats(si_conversation_session(conv), &ss);
        rs.occupancy = ss.occupancy;
        rs.evicted = ss.evicted;
        printf("%s[round %d] prompt %lld tokens | reply %lld tokens | prefill %.1f tokens/s | decode %.1f tokens/s | cache %lld/%d | evicted %lld\n",
               quiet ? "" : "\n", r + 1, (long long)rs.prompt_tokens, (long long)rs.generated,
               rs.prefill_s > 0 ? rs.prompt_tokens / rs.prefill_s : 0.0, rs.decode_s > 0 ? rs.generated / rs.decode_s : 0.0,
               (long long)rs.occupancy, ss.sink_tokens + ss.window, (long long)rs.evicted);
        fflush(stdout);
        json_array_append_new(rounds_json, round_json(r, &rs));
        total.prompt_tokens += rs.prompt_tokens;
        total.generated += rs.generated;
        total.prefill_s += rs.prefill_s;
        total.decode_s += rs.decode_s;
        total.occupancy = rs.occupancy;
        total.evicted = rs.evicted;
    }
    double wall = cli_now() - t_all;
    printf("\n== %d rounds: %lld prompt tokens (%.1f tokens/s), %lld generated tokens (%.1f tokens/s decode), "
           "overall generation throughput %.2f tokens/s over %.1f s, %lld tokens evicted, cache %.1f MiB ==\n",
           rounds, (long long)total.prompt_tokens, total.prefill_s > 0 ? total.prompt_tokens / total.prefill_s : 0.0,
           (long long)total.generated, total.decode_s > 0 ? total.generated / total.decode_s : 0.0,
           wall > 0 ? total.generated / wall : 0.0, wall, (long long)total.evicted, ss.cache_bytes / 1048576.0);
    if (stats_path) {
        json_object_set_new(stats, "model", json_string(c.model));
        json_object_set_new(stats, "device", json_string(info.device));
        json_object_set_new(stats, "threads", json_integer(info.n_threads));
        json_object_set_new(stats, "template", json_string(si_template_name(si_conversation_template(conv))));
        json_object_set_new(stats, "sink_tokens", json_integer(ss.sink_tokens));
        json_object_set_new(stats, "window", json_integer(ss.window));
        json_object_set_new(stats, "cache_bytes", json_integer((json_int_t)ss.cache_bytes));
        json_object_set_new(stats, "max_new_tokens", json_integer(max_new));
        json_t *t = round_json(rounds - 1, &total);
        json_object_del(t, "round");
        json_object_set_new(t, "rounds", json_integer(rounds));
        json_object_set_new(t, "wall_seconds", json_real(wall));
        json_object_set_new(t, "overall_generation_tokens_per_s", json_real(wall > 0 ? total.generated / wall : 0.0));
        json_object_set_new(stats, "totals", t);
        if (json_dump_file(stats, stats_path, JSON_INDENT(2))) {
            fprintf(stderr, "swiftinfer: %s: cannot write\n", stats_path);
            goto done;
        }
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "\nswiftinfer: %s\n", si_last_error());
done:
    json_decref(stats);
    json_decref(turns);
    si_streamer_free(out);
    si_sampler_free(smp);
    si_conversation_free(conv);
    si_model_free(m);
    return rc;
}
