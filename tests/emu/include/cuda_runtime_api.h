/* tests/emu/include/cuda_runtime_api.h: a CPU stand-in for the parts of CUDA
 * that the kernel files under src/backend/cuda use, so that they compile as
 * C++ and run here, in CI, with no GPU (tests/emu/test_cuda_emulated.c).
 *
 * Every GPU thread is a fiber (ucontext) of one OS thread. A launch runs its
 * blocks one after the other, in a shuffled order (a kernel must not depend
 * on block order); a block's fibers run round robin, each until it reaches
 * a barrier or ends. __syncthreads waits for every live thread of the block,
 * a warp shuffle for every live lane of the warp. A barrier that some
 * threads never reach (divergent barriers) and a shuffle that reads a lane
 * that has exited fail the test: both are undefined on a GPU. Because blocks
 * never overlap, __shared__ variables are plain statics, and a missing
 * __syncthreads shows: the fiber that runs first reads what the others have
 * not written yet.
 *
 * cp.async copies (CUDA's pipeline primitives) are deferred until waited
 * for, so that a kernel that reads its shared memory too early reads stale
 * data.
 *
 * Not modelled: timing, occupancy, concurrency between blocks and the memory
 * model, programmatic dependent launch (the kernels' griddepcontrol lines
 * are compiled for __CUDA_ARCH__ >= 900 only), partial shuffle masks.
 * Device memory is host memory. C code (the test driver, kernels.h) sees
 * only the error and stream types. */
#ifndef SI_EMU_CUDA_RUNTIME_API_H
#define SI_EMU_CUDA_RUNTIME_API_H

#include <stddef.h>
#include <stdint.h>

typedef enum { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorInvalidConfiguration = 9 } cudaError_t;
typedef struct si_emu_stream *cudaStream_t;

#ifdef __cplusplus

#include <math.h>

#include <ucontext.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
/* Aligned as on the GPU, so that UBSan catches a misaligned vector load. */
struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(8) uint2 {
    unsigned x, y;
};

/* ---- 16-bit floats ----
 * The compiler's _Float16 where it has one (GCC 12, clang 15 on x86-64): a
 * conversion independent of util/half.h, which the test compares against;
 * else util/half.h itself. */
#ifdef __FLT16_MANT_DIG__
struct __half {
    _Float16 v;
};
inline float __half2float(__half h) { return (float)h.v; }
inline __half __float2half_rn(float f) { return __half{(_Float16)f}; } /* round to nearest even */
#else
#include "../../../src/util/half.h"
struct __half {
    uint16_t bits;
};
inline float __half2float(__half h) { return si_f16_to_f32(h.bits); }
inline __half __float2half_rn(float f) { return __half{si_f32_to_f16(f)}; }
#endif
struct alignas(4) __half2 {
    __half x, y;
};
struct __nv_bfloat16 {
    uint16_t bits;
};
inline float2 __half22float2(__half2 h) { return float2{__half2float(h.x), __half2float(h.y)}; }
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{(uint16_t)((u >> 16) | 0x40)}; /* quiet NaN */
    return __nv_bfloat16{(uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16)};
}
inline float __uint_as_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
inline uint32_t __float_as_uint(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* single IEEE operations, never fused (the host compiler contracts nothing
 * across these calls without FMA instructions) */
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

/* ---- loads with cache hints: plain loads here ---- */
template <typename T>
inline T __ldg(const T *p) { return *p; }
template <typename T>
inline T __ldcs(const T *p) { return *p; }
template <typename T>
inline T __ldcg(const T *p) { return *p; }

/* One OS thread runs every GPU thread: the scheduler sets these before it
 * resumes one. */
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

/* ---- the emulated machine ---- */
namespace si_emu {

[[noreturn]] inline void fail(const char *what) {
    fprintf(stderr, "cuda emulator: %s\n", what);
    fflush(stderr);
    abort();
}

enum state { RUNNABLE, AT_WARP_BARRIER, AT_BLOCK_BARRIER, FINISHED };

/* An asynchronous copy (cp.async) not yet performed. */
struct pending_copy {
    void *dst;
    const void *src;
    size_t n;
};

struct fiber {
    ucontext_t ctx;
    std::vector<char> stack;
    state st;
    dim3 idx;
    std::vector<pending_copy> open;                /* issued, not committed */
    std::vector<std::vector<pending_copy>> groups; /* committed, oldest first */
};

/* A block in flight: its threads as fibers of this OS thread, run by
 * schedule() until each is finished. */
struct block {
    std::vector<fiber> *fibers;
    unsigned n;
    unsigned current;
    ucontext_t scheduler;
    void (*body)(void *);
    void *ctx;
    /* shuffles alternate between two scratch rows: a lane writes a row
     * again only past the next shuffle's barrier, which every lane reaches
     * after its read */
    std::vector<std::array<uint64_t, 2 * 32>> slots;
    std::vector<std::array<unsigned, 32>> shuffles; /* entered, per lane */
};

inline block *running; /* the block being scheduled */

#if defined(__SANITIZE_ADDRESS__)
#define SI_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SI_EMU_ASAN 1
#endif
#endif
#ifdef SI_EMU_ASAN
extern "C" void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
extern "C" void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
#endif

inline const void *scheduler_stack_bottom;
inline size_t scheduler_stack_size;

/* From the running fiber back to the scheduler. */
inline void yield(state st) {
    block &b = *running;
    fiber &f = (*b.fibers)[b.current];
    f.st = st;
#ifdef SI_EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(st == FINISHED ? nullptr : &fake, scheduler_stack_bottom, scheduler_stack_size);
    swapcontext(&f.ctx, &b.scheduler);
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
    swapcontext(&f.ctx, &b.scheduler);
#endif
}

inline void fiber_entry() {
#ifdef SI_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &scheduler_stack_bottom, &scheduler_stack_size);
#endif
    running->body(running->ctx);
    yield(FINISHED);
}

/* Blocks in a shuffled order (a kernel must not depend on it); the order
 * changes from launch to launch, the same in every run. */
inline std::vector<dim3> block_order(dim3 grid) {
    static unsigned long launches;
    std::vector<dim3> order;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) order.push_back(dim3(x, y, z));
    std::mt19937 rng((unsigned)(++launches * 2654435761u));
    std::shuffle(order.begin(), order.end(), rng);
    return order;
}

/* Runs every fiber of the block to its end: round robin over the runnable
 * ones; when none is, opens the warp barriers whose live lanes all wait
 * there, else the block barrier if every live thread waits there; anything
 * else is a barrier some threads never reach. */
inline void schedule(block &b) {
    std::vector<fiber> &fs = *b.fibers;
    for (;;) {
        bool ran = false;
        for (unsigned t = 0; t < b.n; t++) {
            if (fs[t].st != RUNNABLE) continue;
            b.current = t;
            threadIdx = fs[t].idx;
#ifdef SI_EMU_ASAN
            void *fake = nullptr;
            __sanitizer_start_switch_fiber(&fake, fs[t].stack.data(), fs[t].stack.size());
            swapcontext(&b.scheduler, &fs[t].ctx);
            __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
            swapcontext(&b.scheduler, &fs[t].ctx);
#endif
            ran = true;
        }
        if (ran) continue;
        bool any_live = false, opened = false, all_block = true;
        for (unsigned w0 = 0; w0 < b.n; w0 += 32) {
            unsigned end = std::min(b.n, w0 + 32);
            bool all_warp = true, live = false;
            for (unsigned t = w0; t < end; t++) {
                if (fs[t].st == FINISHED) continue;
                live = true;
                all_warp &= fs[t].st == AT_WARP_BARRIER;
                all_block &= fs[t].st == AT_BLOCK_BARRIER;
            }
            any_live |= live;
            if (live && all_warp) {
                for (unsigned t = w0; t < end; t++)
                    if (fs[t].st == AT_WARP_BARRIER) fs[t].st = RUNNABLE;
                opened = true;
            }
        }
        if (!any_live) return;
        if (opened) continue;
        if (!all_block) fail("a barrier that some threads of the block or warp never reach (divergent barrier)");
        for (unsigned t = 0; t < b.n; t++)
            if (fs[t].st == AT_BLOCK_BARRIER) fs[t].st = RUNNABLE;
    }
}

template <typename T>
T shuffle_xor(T v, int lane_mask, int width) {
    static_assert(sizeof(T) <= 8, "shuffle of more than 8 bytes");
    if (width < 1 || width > 32 || (width & (width - 1)) || lane_mask >= width) fail("shuffle: bad width or mask");
    block &b = *running;
    const unsigned t = b.current, w = t / 32, lane = t % 32;
    const unsigned mine = b.shuffles[w][lane]++, row = mine & 1;
    memcpy(&b.slots[w][row * 32 + lane], &v, sizeof v);
    yield(AT_WARP_BARRIER);
    const unsigned src = lane ^ (unsigned)lane_mask;
    /* past the barrier, a lane that has not entered this shuffle has exited */
    if (w * 32 + src >= b.n || b.shuffles[w][src] <= mine) fail("shuffle reads a lane that has exited");
    T r;
    memcpy(&r, &b.slots[w][row * 32 + src], sizeof r);
    return r;
}

} // namespace si_emu

/* cp.async as the CUDA pipeline primitives: a group's copies happen only
 * when a wait covers it, so that reading a slot too early reads old data. */
inline void __pipeline_memcpy_async(void *dst, const void *src, size_t n, size_t zero_fill = 0) {
    if ((n != 4 && n != 8 && n != 16) || zero_fill || ((uintptr_t)dst | (uintptr_t)src) % n)
        si_emu::fail("cp.async: size other than 4, 8, 16 or misaligned");
    si_emu::block &b = *si_emu::running;
    (*b.fibers)[b.current].open.push_back({dst, src, n});
}
inline void __pipeline_commit() {
    si_emu::fiber &f = (*si_emu::running->fibers)[si_emu::running->current];
    f.groups.push_back(std::move(f.open));
    f.open.clear();
}
inline void __pipeline_wait_prior(size_t prior) {
    si_emu::fiber &f = (*si_emu::running->fibers)[si_emu::running->current];
    size_t done = f.groups.size() > prior ? f.groups.size() - prior : 0;
    for (size_t g = 0; g < done; g++)
        for (const si_emu::pending_copy &c : f.groups[g]) memcpy(c.dst, c.src, c.n);
    f.groups.erase(f.groups.begin(), f.groups.begin() + (ptrdiff_t)done);
}

inline void __syncthreads() { si_emu::yield(si_emu::AT_BLOCK_BARRIER); }
inline void __threadfence() {}
inline unsigned atomicAdd(unsigned *p, unsigned v) {
    unsigned old = *p;
    *p = old + v;
    return old;
}

template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    if (mask != 0xffffffffu) si_emu::fail("shuffle with a partial mask: not emulated");
    return si_emu::shuffle_xor(v, lane_mask, width);
}

/* ---- launches ---- */
enum { cudaLaunchAttributeProgrammaticStreamSerialization = 1 };
struct cudaLaunchAttributeValue {
    int programmaticStreamSerializationAllowed;
};
struct cudaLaunchAttribute {
    int id;
    cudaLaunchAttributeValue val;
};
struct cudaLaunchConfig_t {
    dim3 gridDim, blockDim;
    size_t dynamicSmemBytes;
    cudaStream_t stream;
    cudaLaunchAttribute *attrs;
    unsigned numAttrs;
};

namespace si_emu {
inline cudaError_t last_error = cudaSuccess;

inline cudaError_t set_error(cudaError_t e) {
    if (e != cudaSuccess) last_error = e;
    return e;
}
} // namespace si_emu

inline cudaError_t cudaGetLastError(void) {
    cudaError_t e = si_emu::last_error;
    si_emu::last_error = cudaSuccess;
    return e;
}

namespace si_emu {

constexpr size_t STACK_BYTES = 256 << 10;

template <typename K, typename P>
struct kernel_call {
    K kernel;
    const P *params;
    static void run(void *self) {
        kernel_call &c = *static_cast<kernel_call *>(self);
        std::apply(c.kernel, *c.params);
    }
};

} // namespace si_emu

/* Runs the whole grid before returning (the stream is ignored). */
template <typename... KArgs, typename... Args>
cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t *cfg, void (*kernel)(KArgs...), Args &&...args) {
    const dim3 g = cfg->gridDim, b = cfg->blockDim;
    const unsigned threads = b.x * b.y * b.z;
    if (!g.x || !g.y || !g.z || !threads || threads > 1024 || cfg->dynamicSmemBytes)
        return si_emu::set_error(cudaErrorInvalidConfiguration);
    if (si_emu::running) si_emu::fail("a launch from inside a kernel");
    const std::tuple<KArgs...> params(static_cast<KArgs>(args)...);
    using call_t = si_emu::kernel_call<void (*)(KArgs...), std::tuple<KArgs...>>;
    call_t call{kernel, &params};
    static std::vector<si_emu::fiber> fibers; /* stacks kept from launch to launch */
    if (fibers.size() < threads) fibers.resize(threads);
    gridDim = g;
    blockDim = b;
    for (const dim3 &at : si_emu::block_order(g)) {
        /* zeroed: ASan's swapcontext reads the scheduler context's uc_stack,
         * which swapcontext never writes; garbage there fails its check */
        si_emu::block blk{};
        blk.fibers = &fibers;
        blk.n = threads;
        blk.body = call_t::run;
        blk.ctx = &call;
        blk.slots.resize((threads + 31) / 32);
        blk.shuffles.assign((threads + 31) / 32, std::array<unsigned, 32>{});
        for (unsigned t = 0; t < threads; t++) {
            si_emu::fiber &f = fibers[t];
            if (f.stack.empty()) f.stack.resize(si_emu::STACK_BYTES);
            f.idx = dim3(t % b.x, t / b.x % b.y, t / (b.x * b.y));
            f.st = si_emu::RUNNABLE;
            f.open.clear();
            f.groups.clear();
            getcontext(&f.ctx);
            f.ctx.uc_stack.ss_sp = f.stack.data();
            f.ctx.uc_stack.ss_size = f.stack.size();
            f.ctx.uc_link = nullptr;
            makecontext(&f.ctx, si_emu::fiber_entry, 0);
        }
        blockIdx = at;
        si_emu::running = &blk;
        si_emu::schedule(blk);
        si_emu::running = nullptr;
    }
    return cudaSuccess;
}

template <typename F>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *n, F, int, size_t) {
    *n = 4; /* no occupancy to speak of on a CPU: any positive count */
    return cudaSuccess;
}

#endif /* __cplusplus */
#endif
