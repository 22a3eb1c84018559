/* cli/common.h: options shared by the commands (model, cache, sampling) and
 * the helpers that turn them into API objects. */
#ifndef SI_CLI_COMMON_H
#define SI_CLI_COMMON_H

#include "args.h"
#include "swiftinfer.h"

#include <jansson.h>

typedef struct {
    const char *model;
    const char *device;
    int threads;
    int batch;
    int sink_tokens;
    int window;
    float temperature;
    int top_k;
    float top_p;
    float repeat_penalty;
    int repeat_last_n;
    int64_t seed;
    bool help;
} cli_common;

/* Defaults: the default model (SWIFTINFER_MODEL or the cache), 4 sinks,
 * sampling as si_sampler_default_params. */
void cli_common_init(cli_common *c);
/* Appends the shared option specs to specs (room for 16); returns the new count. */
int cli_model_specs(cli_common *c, arg_spec *specs, int n);
int cli_cache_specs(cli_common *c, arg_spec *specs, int n);
int cli_sampling_specs(cli_common *c, arg_spec *specs, int n);

/* Loads the model named by --model, printing the error on failure. */
si_model *cli_load_model(const cli_common *c);
si_session *cli_create_session(const cli_common *c, si_model *m);
si_sampler *cli_create_sampler(const cli_common *c);

/* The default model file, or NULL. */
const char *cli_default_model(void);
/* A file under the shared folder (data, tokenizers), or NULL: under
 * SWIFTINFER_SHARED if set, else the first "shared" folder beside the
 * binary's folder or one of its parents (../shared next to a checkout). */
const char *cli_shared_path(const char *rel);
double cli_now(void);
/* All turns of all questions of an MT-Bench style JSONL file ({"turns":
 * [...]} per line), in order, as a JSON array of strings; NULL with a
 * message on bad input. */
json_t *cli_load_turns(const char *path);

int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench_rounds(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
