/* cli/cmd_info.c: `swiftinfer info` — what a model file holds. */
#include "common.h"

#include <stdio.h>

int cmd_info(int argc, char **argv) {
    cli_common c;
    cli_common_init(&c);
    arg_spec specs[8];
    int n = cli_model_specs(&c, specs, 0);
    if (args_parse(argc, argv, 2, specs, n)) return 2;
    if (c.help) {
        args_usage("info", "[--model PATH]", specs, n);
        return 0;
    }
    si_model *m = cli_load_model(&c);
    if (!m) return 1;
    si_model_info i;
    si_model_get_info(m, &i);
    const si_tokenizer *t = si_model_tokenizer(m);
    si_template tpl = si_template_detect(t);
    printf("model: %s\nlayers: %d, hidden: %d, heads: %d (KV %d, head dim %d), FFN: %d, vocabulary: %d\n", c.model,
           i.n_layers, i.dim, i.n_heads, i.n_kv_heads, i.head_dim, i.ffn_dim, i.n_vocab);
    printf("context (trained): %d, RoPE theta: %g, weights: %s, output head: %s\n", i.ctx_train, i.rope_theta,
           i.weight_type, i.tied_output ? "tied to the embeddings" : "separate");
    printf("tokens: BOS %d, EOS %d, chat template: %s\n", si_token_bos(t), si_token_eos(t), si_template_name(tpl));
    si_model_free(m);
    return 0;
}
