/* tests/test_hf_config.c: config.json parsing: real configs of the Llama
 * family (SmolLM2, Llama 3.1 with llama3 rope scaling, Mistral 7B with and
 * without a sliding window), LlamaConfig's defaults, rope_scaling forms, and
 * malformed JSON, wrong types and absurd values, each refused with an error
 * naming the file and the field. */
#include "testutil.h"

#include "format/hf_config.h"
#include "util/error.h"

#include <string.h>

static const char *write_config(const char *json) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/config.json", si_test_tmpdir());
    if (si_test_write_file(path, json, strlen(json)) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    return path;
}

static int load(const char *json, si_hf_config *c) {
    int rc = si_hf_config_load(write_config(json), c);
    if (rc) fprintf(stderr, "  (load failed: %s)\n", si_error_message());
    return rc;
}

static const char *smollm2 =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"bos_token_id\": 1, \"eos_token_id\": 2,"
    " \"hidden_act\": \"silu\", \"hidden_size\": 576, \"initializer_range\": 0.041666666666666664,"
    " \"intermediate_size\": 1536, \"is_llama_config\": true, \"max_position_embeddings\": 8192,"
    " \"model_type\": \"llama\", \"num_attention_heads\": 9, \"num_hidden_layers\": 30, \"num_key_value_heads\": 3,"
    " \"pad_token_id\": 2, \"pretraining_tp\": 1, \"rms_norm_eps\": 1e-05, \"rope_interleaved\": false,"
    " \"rope_scaling\": null, \"rope_theta\": 100000, \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\","
    " \"transformers_version\": \"4.42.3\", \"use_cache\": true, \"vocab_size\": 49152}";

static const char *llama31 =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"attention_dropout\": 0.0,"
    " \"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, 128009], \"hidden_act\": \"silu\","
    " \"hidden_size\": 4096, \"initializer_range\": 0.02, \"intermediate_size\": 14336,"
    " \"max_position_embeddings\": 131072, \"mlp_bias\": false, \"model_type\": \"llama\","
    " \"num_attention_heads\": 32, \"num_hidden_layers\": 32, \"num_key_value_heads\": 8, \"pretraining_tp\": 1,"
    " \"rms_norm_eps\": 1e-05, \"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1.0,"
    " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"},"
    " \"rope_theta\": 500000.0, \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\","
    " \"use_cache\": true, \"vocab_size\": 128256}";

static const char *mistral =
    "{\"architectures\": [\"MistralForCausalLM\"], \"bos_token_id\": 1, \"eos_token_id\": 2, \"hidden_act\": \"silu\","
    " \"hidden_size\": 4096, \"initializer_range\": 0.02, \"intermediate_size\": 14336,"
    " \"max_position_embeddings\": 32768, \"model_type\": \"mistral\", \"num_attention_heads\": 32,"
    " \"num_hidden_layers\": 32, \"num_key_value_heads\": 8, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0,"
    " \"sliding_window\": 4096, \"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", \"vocab_size\": 32000}";

static void test_real_configs(void) {
    si_hf_config c;
    CHECK(load(smollm2, &c) == 0);
    CHECK(strcmp(c.architecture, "LlamaForCausalLM") == 0 && strcmp(c.model_type, "llama") == 0);
    CHECK(c.hidden_size == 576 && c.intermediate_size == 1536 && c.num_hidden_layers == 30);
    CHECK(c.num_attention_heads == 9 && c.num_key_value_heads == 3 && c.head_dim == 64 && c.vocab_size == 49152);
    CHECK(c.max_position_embeddings == 8192 && c.rms_norm_eps == 1e-5f && c.rope_theta == 100000.0f);
    CHECK(c.rope_scaling_type[0] == '\0' && c.rope_scaling_factor == 1.0f && c.tie_word_embeddings);
    CHECK(c.bos_token_id == 1 && c.n_eos_token_ids == 1 && c.eos_token_ids[0] == 2);
    CHECK(strcmp(c.torch_dtype, "bfloat16") == 0 && c.sliding_window == 0);

    CHECK(load(llama31, &c) == 0);
    CHECK(c.head_dim == 128 && c.num_key_value_heads == 8 && c.rope_theta == 500000.0f && !c.tie_word_embeddings);
    CHECK(strcmp(c.rope_scaling_type, "llama3") == 0 && c.rope_scaling_factor == 8.0f);
    CHECK(c.rope_low_freq_factor == 1.0f && c.rope_high_freq_factor == 4.0f && c.rope_original_max_position == 8192);
    CHECK(c.bos_token_id == 128000 && c.n_eos_token_ids == 3 && c.eos_token_ids[0] == 128001 &&
          c.eos_token_ids[2] == 128009);

    CHECK(load(mistral, &c) == 0);
    CHECK(strcmp(c.model_type, "mistral") == 0 && c.sliding_window == 4096 && c.max_position_embeddings == 32768);
}

/* Replaces the first occurrence of `from` in a config with `to`. */
static const char *edit(const char *json, const char *from, const char *to) {
    static char out[4096];
    const char *at = strstr(json, from);
    if (!at) {
        fprintf(stderr, "edit: '%s' not found\n", from);
        exit(1);
    }
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - json), json, to, at + strlen(from));
    return out;
}

static const char *minimal = "{\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2,"
                             " \"num_attention_heads\": 4, \"vocab_size\": 100}";

static void test_defaults_and_forms(void) {
    si_hf_config c;
    CHECK(load(minimal, &c) == 0);
    CHECK(c.num_key_value_heads == 4 && c.head_dim == 16 && c.max_position_embeddings == 2048);
    CHECK(c.rms_norm_eps == 1e-6f && c.rope_theta == 10000.0f && !c.tie_word_embeddings);
    CHECK(c.rope_scaling_type[0] == '\0' && c.rope_scaling_factor == 1.0f && c.rope_original_max_position == 0);
    CHECK(c.bos_token_id == -1 && c.n_eos_token_ids == 0 && c.sliding_window == 0);
    CHECK(c.architecture[0] == '\0' && c.model_type[0] == '\0' && c.torch_dtype[0] == '\0');

    CHECK(load(edit(minimal, "{", "{\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}, "), &c) == 0);
    CHECK(strcmp(c.rope_scaling_type, "linear") == 0 && c.rope_scaling_factor == 2.0f);
    CHECK(load(edit(minimal, "{", "{\"rope_scaling\": {\"rope_type\": \"default\"}, "), &c) == 0);
    CHECK(c.rope_scaling_type[0] == '\0' && c.rope_scaling_factor == 1.0f);
    CHECK(load(edit(minimal, "{", "{\"head_dim\": 32, \"num_key_value_heads\": null, \"dtype\": \"float16\", "), &c) == 0);
    CHECK(c.head_dim == 32 && c.num_key_value_heads == 4 && strcmp(c.torch_dtype, "float16") == 0);
    CHECK(load(edit(mistral, "\"sliding_window\": 4096", "\"sliding_window\": null"), &c) == 0);
    CHECK(c.sliding_window == 0);
    CHECK(load(edit(minimal, "{", "{\"eos_token_id\": [], \"bos_token_id\": null, "), &c) == 0);
    CHECK(c.n_eos_token_ids == 0 && c.bos_token_id == -1);
    /* an explicit head_dim needs no divisibility of hidden_size */
    CHECK(load(edit(minimal, "\"num_attention_heads\": 4", "\"num_attention_heads\": 3, \"head_dim\": 24"), &c) == 0);
}

static void expect_fails(const char *json, const char *what, const char *needle) {
    si_hf_config c;
    const char *path = write_config(json);
    si_clear_error();
    CHECKF(si_hf_config_load(path, &c) == -1, "%s: loaded", what);
    const char *msg = si_error_message();
    CHECKF(strstr(msg, path) != NULL, "%s: error does not name the file: %s", what, msg);
    CHECKF(strstr(msg, needle) != NULL, "%s: expected '%s' in: %s", what, needle, msg);
}

static void test_bad_configs(void) {
    static const struct {
        const char *what, *from, *to, *needle;
    } bad[] = {
        {"hidden_size missing", "\"hidden_size\": 64,", "", "'hidden_size' is missing"},
        {"hidden_size string", "\"hidden_size\": 64", "\"hidden_size\": \"64\"", "'hidden_size' must be an integer"},
        {"hidden_size real", "\"hidden_size\": 64", "\"hidden_size\": 64.5", "'hidden_size' must be an integer"},
        {"hidden_size zero", "\"hidden_size\": 64", "\"hidden_size\": 0", "'hidden_size' is 0, outside"},
        {"hidden_size negative", "\"hidden_size\": 64", "\"hidden_size\": -64", "'hidden_size' is -64"},
        {"hidden_size huge", "\"hidden_size\": 64", "\"hidden_size\": 2097152", "'hidden_size' is 2097152"},
        {"layers beyond int", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 99999999999", "'num_hidden_layers'"},
        {"vocab absurd", "\"vocab_size\": 100", "\"vocab_size\": 8388608", "'vocab_size'"},
        {"heads do not divide", "\"num_attention_heads\": 4", "\"num_attention_heads\": 5",
         "'num_attention_heads' does not divide hidden_size"},
        {"kv heads do not divide", "{", "{\"num_key_value_heads\": 3, ",
         "'num_key_value_heads' does not divide num_attention_heads"},
        {"kv heads zero", "{", "{\"num_key_value_heads\": 0, ", "'num_key_value_heads' is 0"},
        {"head_dim string", "{", "{\"head_dim\": \"16\", ", "'head_dim' must be an integer"},
        {"eps zero", "{", "{\"rms_norm_eps\": 0, ", "'rms_norm_eps' is 0"},
        {"eps 0 as a float", "{", "{\"rms_norm_eps\": 1e-50, ", "'rms_norm_eps' is 1e-50, which is 0 as a 32-bit float"},
        {"eps string", "{", "{\"rms_norm_eps\": \"1e-5\", ", "'rms_norm_eps' must be a number"},
        {"rope_theta negative", "{", "{\"rope_theta\": -1, ", "'rope_theta' is -1"},
        {"tie string", "{", "{\"tie_word_embeddings\": \"true\", ", "'tie_word_embeddings' must be true or false"},
        {"scaling string", "{", "{\"rope_scaling\": \"linear\", ", "'rope_scaling' must be an object or null"},
        {"scaling no type", "{", "{\"rope_scaling\": {\"factor\": 2}, ", "'rope_scaling.type' is missing"},
        {"scaling unknown", "{", "{\"rope_scaling\": {\"type\": \"magic\", \"factor\": 2}, ", "'rope_scaling.type' is not one of"},
        {"scaling type number", "{", "{\"rope_scaling\": {\"type\": 1, \"factor\": 2}, ", "'rope_scaling.type' must be a string"},
        {"linear no factor", "{", "{\"rope_scaling\": {\"type\": \"linear\"}, ", "'rope_scaling.factor' is missing"},
        {"linear factor zero", "{", "{\"rope_scaling\": {\"type\": \"linear\", \"factor\": 0}, ", "'rope_scaling.factor' is 0"},
        {"llama3 incomplete", "{",
         "{\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, "
         "\"original_max_position_embeddings\": 8192}, ",
         "'rope_scaling.high_freq_factor' is missing"},
        {"llama3 crossed", "{",
         "{\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 1,"
         " \"original_max_position_embeddings\": 8192}, ",
         "'rope_scaling.high_freq_factor' must be greater"},
        {"llama3 original string", "{",
         "{\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4,"
         " \"original_max_position_embeddings\": \"8192\"}, ",
         "'rope_scaling.original_max_position_embeddings' must be an integer"},
        {"eos string", "{", "{\"eos_token_id\": \"2\", ", "'eos_token_id' must be an integer or a list"},
        {"eos list of strings", "{", "{\"eos_token_id\": [1, \"2\"], ", "'eos_token_id' holds an entry"},
        {"eos list too long", "{", "{\"eos_token_id\": [1,2,3,4,5,6,7,8,9], ", "'eos_token_id' lists more than 8"},
        {"eos beyond vocab", "{", "{\"eos_token_id\": 100, ", "'eos_token_id' is 100"},
        {"bos negative", "{", "{\"bos_token_id\": -1, ", "'bos_token_id' is -1"},
        {"sliding_window zero", "{", "{\"sliding_window\": 0, ", "'sliding_window' is 0"},
        {"sliding_window bool", "{", "{\"sliding_window\": true, ", "'sliding_window' must be an integer"},
        {"architectures string", "{", "{\"architectures\": \"LlamaForCausalLM\", ", "'architectures' must be a non-empty list"},
        {"architectures empty", "{", "{\"architectures\": [], ", "'architectures' must be a non-empty list"},
        {"model_type too long", "{", "{\"model_type\": \"llama-with-a-very-long-model-type-name\", ", "'model_type' is too long"},
        {"model_type number", "{", "{\"model_type\": 7, ", "'model_type' must be a string"},
        {"max positions absurd", "{", "{\"max_position_embeddings\": 1e30, ", "'max_position_embeddings' must be an integer"},
        {"duplicate key", "{", "{\"hidden_size\": 32, ", "invalid JSON"},
        {"truncated", "\"vocab_size\": 100}", "\"vocab_size\": 1", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_fails(edit(minimal, bad[i].from, bad[i].to), bad[i].what, bad[i].needle);
    expect_fails("[1, 2]", "not an object", "not a JSON object");
    expect_fails("", "empty file", "invalid JSON");

    si_hf_config c;
    char absent[4200];
    snprintf(absent, sizeof absent, "%s/absent.json", si_test_tmpdir());
    CHECK(si_hf_config_load(absent, &c) == -1 && strstr(si_error_message(), absent));
}

int main(void) {
    test_real_configs();
    test_defaults_and_forms();
    test_bad_configs();
    return si_test_finish("test_hf_config");
}
