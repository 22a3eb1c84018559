/* tests/test_oracle.c: our forward pass against Hugging Face transformers.
 *
 * scripts/oracle.py ran PyTorch on the default model exported to a float32
 * Hugging Face folder and stored its logits (tests/golden/oracle_smollm2.json).
 * Here the same export is made and loaded by our engine: logits must agree
 * within 1e-3 at the first 128 positions of a War and Peace passage, top-1
 * tokens at all 1024, and greedy continuations of MT-Bench prompts must be
 * identical. The Q4_1 GGUF itself (8-bit activations in its products) must
 * agree with the float32 model's top-1 token at >= 95% of the positions. */
#include "swiftinfer.h"
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOGIT_TOL 1e-3
#define MIN_TOP1_AGREEMENT 0.95

static int32_t *int_array(json_t *a, int *n) {
    *n = (int)json_array_size(a);
    int32_t *v = malloc(sizeof(int32_t) * (*n ? *n : 1));
    for (int i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return v;
}

typedef struct {
    json_t *positions, *top1;
    double max_diff, max_lse_diff;
    int agree, total;
    bool compare_logits;
} passage_check;

static int check_row(void *user, int64_t i, const float *logits, int n_vocab) {
    passage_check *c = user;
    double mx = -INFINITY, sum = 0;
    int best = 0;
    for (int j = 0; j < n_vocab; j++) {
        if (logits[j] > mx) mx = logits[j];
        if (logits[j] > logits[best]) best = j;
    }
    for (int j = 0; j < n_vocab; j++) sum += exp(logits[j] - mx);
    c->agree += best == json_integer_value(json_array_get(c->top1, (size_t)i));
    c->total++;
    json_t *pos = json_array_get(c->positions, (size_t)i);
    if (!c->compare_logits || !pos) return 0;
    double lse = log(sum) + mx, d = fabs(lse - json_real_value(json_object_get(pos, "lse")));
    if (!(d <= c->max_lse_diff)) c->max_lse_diff = d;
    json_t *ids = json_object_get(pos, "ids"), *vals = json_object_get(pos, "logits");
    for (size_t k = 0; k < json_array_size(ids); k++) {
        int id = (int)json_integer_value(json_array_get(ids, k));
        double e = fabs(logits[id] - json_real_value(json_array_get(vals, k)));
        if (!(e <= c->max_diff)) c->max_diff = e;
    }
    return 0;
}

static passage_check run_passage(si_model *m, json_t *passage, bool compare_logits) {
    int n;
    int32_t *ids = int_array(json_object_get(passage, "ids"), &n);
    passage_check c = {.positions = json_object_get(passage, "positions"), .top1 = json_object_get(passage, "top1"),
                       .compare_logits = compare_logits};
    si_session *s = si_session_create(m, NULL);
    CHECKF(s && si_session_feed_all(s, ids, n, check_row, &c) == 0, "%s", si_last_error());
    si_session_free(s);
    free(ids);
    return c;
}

static int greedy_matches(si_model *m, json_t *case_) {
    int n_prompt, n_cont;
    int32_t *prompt = int_array(json_object_get(case_, "prompt_ids"), &n_prompt);
    int32_t *want = int_array(json_object_get(case_, "continuation"), &n_cont);
    si_sampler_params sp = si_sampler_default_params();
    sp.temperature = 0;
    sp.repeat_penalty = 1;
    si_sampler *smp = si_sampler_create(&sp);
    si_session *s = si_session_create(m, NULL);
    int same = s && si_session_feed(s, prompt, n_prompt) == 0;
    for (int i = 0; same && i < n_cont; i++) {
        int32_t next = si_sampler_sample(smp, si_session_logits(s), si_model_n_vocab(m));
        if (next != want[i]) {
            fprintf(stderr, "question %lld: token %d is %d, transformers gave %d\n",
                    (long long)json_integer_value(json_object_get(case_, "question_id")), i, next, want[i]);
            same = 0;
        }
        if (same && si_session_feed(s, &next, 1)) same = 0;
    }
    si_session_free(s);
    si_sampler_free(smp);
    free(prompt);
    free(want);
    return same;
}

int main(void) {
    const char *gguf = si_test_require_model();
    json_error_t err;
    json_t *golden = json_load_file(si_test_source_path("tests/golden/oracle_smollm2.json"), 0, &err);
    CHECKF(golden != NULL, "golden file: %s", err.text);
    if (!golden) return si_test_finish("test_oracle");
    json_t *passage = json_object_get(golden, "passage");

    si_model *q41 = si_model_load(gguf, NULL);
    CHECKF(q41 != NULL, "%s", si_last_error());
    if (!q41) return si_test_finish("test_oracle");
    char dir[600];
    snprintf(dir, sizeof dir, "%s/hf-f32", si_test_tmpdir());
    CHECKF(si_model_export_hf(q41, dir) == 0, "export: %s", si_last_error());
    passage_check qc = run_passage(q41, passage, false);
    si_model_free(q41);

    si_model *f32 = si_model_load(dir, NULL);
    CHECKF(f32 != NULL, "%s", si_last_error());
    if (!f32) return si_test_finish("test_oracle");
    passage_check fc = run_passage(f32, passage, true);
    size_t detailed = json_array_size(json_object_get(passage, "positions"));
    printf("float32 export vs transformers: max |logit diff| %.3g, max |logsumexp diff| %.3g over %zu positions; top-1 agreement %d/%d\n",
           fc.max_diff, fc.max_lse_diff, detailed, fc.agree, fc.total);
    CHECK(detailed >= 64 && fc.total >= 1024);
    CHECKF(fc.agree >= fc.total - 2, "float32 top-1 differs at %d positions", fc.total - fc.agree);
    CHECKF(fc.max_diff <= LOGIT_TOL && fc.max_lse_diff <= LOGIT_TOL, "logits differ by %g (lse %g)", fc.max_diff, fc.max_lse_diff);
    double agreement = qc.total ? (double)qc.agree / qc.total : 0;
    printf("Q4_1 GGUF vs float32 top-1 agreement: %d/%d = %.1f%%\n", qc.agree, qc.total, 100 * agreement);
    CHECKF(agreement >= MIN_TOP1_AGREEMENT, "agreement %.3f < %.2f", agreement, MIN_TOP1_AGREEMENT);

    json_t *greedy = json_object_get(golden, "greedy");
    int identical = 0;
    for (size_t i = 0; i < json_array_size(greedy); i++) identical += greedy_matches(f32, json_array_get(greedy, i));
    printf("greedy continuations identical to transformers: %d/%zu\n", identical, json_array_size(greedy));
    CHECK(json_array_size(greedy) >= 5 && identical == (int)json_array_size(greedy));

    si_model_free(f32);
    json_decref(golden);
    return si_test_finish("test_oracle");
}
