/* backend/cuda/cuda_pass.c: per-pass staging and CUDA graphs.
 *
 * A pass's varying inputs all live in device buffers at fixed addresses:
 * forward.c uploads the tokens and the RoPE table from page-locked staging,
 * and pass_begin uploads the attention rows (gpu_layout.h) the same way. The
 * kernels read nothing else that changes between passes of one shape, so a
 * small pass (a decode step: up to SI_CU_GRAPH_MAX_TOKENS rows) is captured
 * once as a CUDA graph and replayed: one launch instead of ~9 per layer.
 * A graph is keyed by the pass's shape; reserve drops them all when scratch
 * buffers move. Larger passes (prefill) run eagerly, and so does everything
 * after a failed recording (pass_end returns 1 and the pass is reissued). */
#include "cuda_backend.h"

#include "../../util/error.h"

#include <stdio.h>
#include <string.h>

void si_cu_drop_graphs(si_cu_backend *cb) {
    for (int i = 0; i < SI_CU_GRAPHS; i++)
        if (cb->graphs[i].exec) {
            cudaGraphExecDestroy(cb->graphs[i].exec);
            cb->graphs[i].exec = NULL;
        }
}

static bool same_shape(const si_cu_graph *a, const si_cu_graph *b) {
    return a->n_tokens == b->n_tokens && a->n_logits == b->n_logits && a->max_visible == b->max_visible &&
           a->argmax == b->argmax && a->sample == b->sample;
}

int si_cu_pass_begin(si_backend *be, const si_pass *p) {
    si_cu_backend *cb = si_cu(be);
    if (si_cu_report(cb)) return -1;
    si_cu_set_pdl(cb->pdl); /* this backend's setting, if another opened since had its own */
    if (p->n_tokens > cb->cap_tokens || p->max_visible > cb->cap_visible)
        return si_fail("cuda: a pass of %d rows seeing %d keys exceeds the reserved %d rows / %d keys", p->n_tokens,
                       p->max_visible, cb->cap_tokens, cb->cap_visible);
    if (si_gpu_attn_rows(p->runs, p->n_runs, cb->rows_host, p->n_tokens)) return -1;
    si_cu_profile_pass(cb, p->n_tokens);
    if (si_cu_check(cb, cudaMemcpyAsync(cb->rows_dev, cb->rows_host, (size_t)p->n_tokens * sizeof(si_gpu_attn_row),
                                        cudaMemcpyHostToDevice, cb->stream),
                    "uploading attention rows"))
        return si_cu_report(cb);
    cb->pass_rows = p->n_tokens;
    cb->pass_max_visible = p->max_visible;
    cb->capturing = false;
    /* Prefill: neighbouring rows of a chunk see nearly the same keys, so
     * attention blocks take them in groups. Only passes that are never
     * recorded: a graph's grid is fixed, and the group count varies with
     * how the rows split into sessions. */
    cb->pass_groups = 0;
    const si_hparams *hp = &cb->cap_hp;
    int group_rows = si_cu_attn_group_rows(cb->attn_kernel, hp->n_heads, hp->n_kv_heads);
    if (p->n_tokens > SI_CU_GRAPH_MAX_TOKENS && group_rows > 1) {
        int n = si_gpu_attn_groups(cb->rows_host, p->n_tokens, group_rows, cb->groups_host);
        if (si_cu_check(cb, cudaMemcpyAsync(cb->groups_dev, cb->groups_host, (size_t)n * sizeof(si_gpu_attn_group),
                                            cudaMemcpyHostToDevice, cb->stream),
                        "uploading attention row groups"))
            return si_cu_report(cb);
        cb->pass_groups = n;
    }
    if (!cb->use_graphs || !p->recordable || p->n_tokens > SI_CU_GRAPH_MAX_TOKENS) return 0;

    si_cu_graph key = {.n_tokens = p->n_tokens, .n_logits = p->n_logits, .max_visible = p->max_visible,
                       .argmax = p->argmax, .sample = p->sample};
    for (int i = 0; i < SI_CU_GRAPHS; i++) {
        si_cu_graph *g = &cb->graphs[i];
        if (g->exec && same_shape(g, &key)) {
            g->last_use = ++cb->graph_clock;
            if (si_cu_check(cb, cudaGraphLaunch(g->exec, cb->stream), "replaying a decode graph")) return si_cu_report(cb);
            return 1;
        }
    }
    /* ThreadLocal: other threads may allocate (new sessions) while this one records. */
    if (si_cu_check(cb, cudaStreamBeginCapture(cb->stream, cudaStreamCaptureModeThreadLocal), "recording a decode graph"))
        return si_cu_report(cb);
    cb->capturing = true;
    cb->capture_key = key;
    return 0;
}

int si_cu_pass_end(si_backend *be) {
    si_cu_backend *cb = si_cu(be);
    if (!cb->capturing) return si_cu_report(cb);
    cb->capturing = false;
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(cb->stream, &graph);
    cudaGraphExec_t exec = NULL;
    if (e == cudaSuccess && !cb->failed) {
        e = cudaGraphInstantiate(&exec, graph, 0);
        if (e != cudaSuccess) exec = NULL;
    }
    if (graph) cudaGraphDestroy(graph);
    if (!exec) {
        /* Nothing ran. Record why, turn graphs off, and have the operations
         * issued again eagerly: a real error in them shows up there. */
        fprintf(stderr, "swiftinfer: CUDA graphs off: recording a pass failed: %s\n",
                cb->failed ? cb->error : cudaGetErrorString(e));
        cudaGetLastError();
        cb->failed = false;
        cb->use_graphs = false;
        return 1;
    }
    si_cu_graph *slot = &cb->graphs[0];
    for (int i = 0; i < SI_CU_GRAPHS; i++) {
        if (!cb->graphs[i].exec) {
            slot = &cb->graphs[i];
            break;
        }
        if (cb->graphs[i].last_use < slot->last_use) slot = &cb->graphs[i];
    }
    if (slot->exec) cudaGraphExecDestroy(slot->exec);
    *slot = cb->capture_key;
    slot->exec = exec;
    slot->last_use = ++cb->graph_clock;
    if (si_cu_check(cb, cudaGraphLaunch(exec, cb->stream), "launching a decode graph")) return si_cu_report(cb);
    return 0;
}
