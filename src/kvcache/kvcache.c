#include "kvcache.h"

#include "../util/error.h"

int si_cache_config_check(const si_cache_config *cfg) {
    if (cfg->sinks < 0 || cfg->sinks > 1024) return si_fail("sink tokens %d out of range (0..1024)", cfg->sinks);
    if (cfg->window < 1 || cfg->window > (1 << 24)) return si_fail("window %d out of range (1..16777216)", cfg->window);
    if (cfg->chunk < 1 || cfg->chunk > (1 << 16)) return si_fail("chunk %d out of range (1..65536)", cfg->chunk);
    if (cfg->pos_offset < 0 || cfg->pos_offset > ((int64_t)1 << 52))
        return si_fail("position offset %lld out of range", (long long)cfg->pos_offset);
    return 0;
}
