/* engine/save_gguf.h: the parts of si_model_save_gguf (save_gguf.c: weights
 * and the file; save_gguf_meta.c: metadata). Not part of the public interface. */
#ifndef SI_ENGINE_SAVE_GGUF_H
#define SI_ENGINE_SAVE_GGUF_H

#include "engine.h"

#include "../format/gguf_writer.h"

/* Adds general.*, llama.* and tokenizer.* keys. quantized: some tensor is
 * block-quantized (general.quantization_version is then written). */
int si_save_gguf_metadata(si_gguf_writer *w, const si_model *m, uint32_t file_type, bool quantized);

#endif
