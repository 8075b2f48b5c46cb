// emu.cpp: the kernels of kernels/cuda compiled for the host, behind a fake libcuda.so that
// implements the driver entry points device/cuda binds. Device memory is host memory; streams
// run work at once, in order (a valid schedule of one stream); stream capture records the work
// and a graph launch replays it. Build:
//   g++ -std=c++20 -O1 -shared -fPIC -pthread -I<kernels/cuda> emu.cpp -o libcudaemu.so
#include "emu.h"

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <ucontext.h>
#include <tuple>
#include <utility>
#include <vector>

#include "gemv.cu"
#include "gemm.cu"
#include "norm.cu"
#include "rope.cu"
#include "attention.cu"
#include "elementwise.cu"
#include "sample.cu"

// ---- fibers: the threads of one block ----

emu_dim3 emu_thread_idx, emu_block_idx; // of the fiber running now
emu_dim3 emu_block_dim, emu_grid_dim;
static int tl_lane, tl_warp;

struct Barrier {
    int expected = 0, arrived = 0;
    unsigned gen = 0;
};
struct Fiber {
    ucontext_t ctx;
    emu_dim3 tid;
    int lane = 0, warp = 0;
    bool done = false;
    Barrier* waiting = nullptr;
    unsigned wait_gen = 0;
};
static ucontext_t sched_ctx;
static Fiber* current;
static Barrier block_barrier;
struct Warp {
    Barrier bar;
    float fv[32];
    int iv[32];
};
static std::vector<Warp> warps;
static std::vector<unsigned char> dyn_smem;

static void barrier_wait(Barrier& b) {
    const unsigned g = b.gen;
    if (++b.arrived == b.expected) {
        b.arrived = 0;
        b.gen++;
        return;
    }
    current->waiting = &b;
    current->wait_gen = g;
    swapcontext(&current->ctx, &sched_ctx);
}

void __syncthreads() { barrier_wait(block_barrier); }
void emu_misaligned(const void* p, unsigned size) {
    fprintf(stderr, "cuda emulator: misaligned %u-byte load at %p (CUDA_ERROR_MISALIGNED_ADDRESS on a GPU)\n", size, p);
    abort();
}
int emu_lane() { return tl_lane; }
void* emu_dynamic_shared() { return dyn_smem.data(); }

float emu_shfl(float v, int src) {
    Warp& w = warps[tl_warp];
    w.fv[tl_lane] = v;
    barrier_wait(w.bar);
    float r = w.fv[src & 31];
    barrier_wait(w.bar);
    return r;
}
int emu_shfl_i(int v, int src) {
    Warp& w = warps[tl_warp];
    w.iv[tl_lane] = v;
    barrier_wait(w.bar);
    int r = w.iv[src & 31];
    barrier_wait(w.bar);
    return r;
}

// IEEE half <-> float, round to nearest even (what cvt.rn.f16.f32 does).
float emu_f16_to_f32(unsigned short h) {
    unsigned sign = (unsigned)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);
    else if (exp == 0) {
        float f = (float)man * (1.0f / 16777216.0f);
        return sign ? -f : f;
    } else bits = sign | ((exp + 112) << 23) | (man << 13);
    return __uint_as_float(bits);
}
unsigned short emu_f32_to_f16(float f) {
    unsigned b;
    memcpy(&b, &f, 4);
    unsigned sign = (b >> 16) & 0x8000;
    unsigned a = b & 0x7fffffff;
    if (a > 0x7f800000) return (unsigned short)(sign | 0x7e00);         // NaN
    if (a >= 0x477ff000) return (unsigned short)(sign | 0x7c00);        // overflow to Inf
    if (a < 0x38800000) {                                               // subnormal or zero
        float v = __uint_as_float(a) * 16777216.0f;                     // in units of 2^-24
        return (unsigned short)(sign | (unsigned)nearbyintf(v));        // default mode: to even
    }
    unsigned r = a - 0x38000000;                                        // rebias exponent
    unsigned h = r >> 13, rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (unsigned short)(sign | h);
}

// mma.sync.m16n8k16.row.col f32.f16.f16.f32, fragment layout of the PTX ISA: lane = 4*group +
// t; A (16x16, row) a0:(g, 2t..2t+1) a1:(g+8, 2t..) a2:(g, 2t+8..) a3:(g+8, 2t+8..);
// B (16x8, col) b0:(k=2t..2t+1, n=g) b1:(k=2t+8.., n=g); C c0,c1:(g, 2t..2t+1) c2,c3:(g+8, ..).
struct MMAExchange {
    unsigned a[32][4], b[32][2];
};
static std::vector<MMAExchange> mma_x;
void emu_mma_16816(float* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
    MMAExchange& x = mma_x[tl_warp];
    Warp& w = warps[tl_warp];
    x.a[tl_lane][0] = a0, x.a[tl_lane][1] = a1, x.a[tl_lane][2] = a2, x.a[tl_lane][3] = a3;
    x.b[tl_lane][0] = b0, x.b[tl_lane][1] = b1;
    barrier_wait(w.bar);
    float A[16][16], B[16][8];
    for (int l = 0; l < 32; l++) {
        int g = l >> 2, t = l & 3;
        for (int h = 0; h < 2; h++) {
            auto lo = [&](unsigned v) { return emu_f16_to_f32((unsigned short)(h ? v >> 16 : v & 0xffff)); };
            A[g][2 * t + h] = lo(x.a[l][0]);
            A[g + 8][2 * t + h] = lo(x.a[l][1]);
            A[g][2 * t + 8 + h] = lo(x.a[l][2]);
            A[g + 8][2 * t + 8 + h] = lo(x.a[l][3]);
            B[2 * t + h][g] = lo(x.b[l][0]);
            B[2 * t + 8 + h][g] = lo(x.b[l][1]);
        }
    }
    barrier_wait(w.bar);
    int g = tl_lane >> 2, t = tl_lane & 3;
    for (int i = 0; i < 4; i++) {
        int row = g + (i >> 1) * 8, col = 2 * t + (i & 1);
        float s = c[i];
        for (int k = 0; k < 16; k++) s += A[row][k] * B[k][col];
        c[i] = s;
    }
}

// ---- kernels by name ----

struct Kernel {
    std::string name;
    int nparams;
    std::function<void(const uint64_t*)> call; // parameter values, 8-byte slots
    int max_dynamic_shared = 48 << 10;
};

template <class... A, size_t... I>
static void invoke(void (*f)(A...), const uint64_t* p, std::index_sequence<I...>) {
    f(*reinterpret_cast<const std::remove_cv_t<A>*>(p + I)...);
}
template <class... A>
static Kernel make_kernel(const char* name, void (*f)(A...)) {
    return Kernel{name, (int)sizeof...(A), [f](const uint64_t* p) { invoke(f, p, std::index_sequence_for<A...>{}); }};
}

#define K(name) make_kernel(#name, name)
static std::vector<Kernel> kernels = {
    K(gemv_q4), K(gemv_q8), K(gemv_f32), K(gemv_f16), K(gemv_bf16),
    K(gemm_f32), K(gemm_f16), K(gemm_bf16), K(gemm_q4), K(gemm_q8), K(mma_peak),
    K(rmsnorm), K(layernorm), K(rope),
    K(kv_store_f16), K(kv_store_f32), K(attention_decode_f16), K(attention_decode_f32),
    K(attention_prefill_f16), K(attention_prefill_f32),
    K(attention_decode_part_f16), K(attention_decode_part_f32), K(attention_decode_combine),
    K(add_f32), K(add_bias), K(silu_mul), K(relu), K(gelu), K(gelu_tanh),
    K(embedding_f32), K(embedding_f16), K(embedding_bf16), K(f16_to_f32_array), K(bf16_to_f32_array),
    K(fill_random_u32), K(im2col), K(argmax), K(sample_topk_topp),
};

static const Kernel* running;
static const uint64_t* running_params;
static void fiber_main() {
    running->call(running_params);
    current->done = true; // uc_link returns to the scheduler
}

static void run_kernel(const Kernel& k, emu_dim3 grid, emu_dim3 block, unsigned shared, const uint64_t* params) {
    static std::mutex one_at_a_time; // shared-memory statics and the scheduler: one kernel at a time
    std::lock_guard<std::mutex> lock(one_at_a_time);
    const int n = (int)(block.x * block.y * block.z);
    constexpr size_t stack_bytes = 256 << 10;
    static std::vector<std::unique_ptr<char[]>> stacks; // reused across launches
    while ((int)stacks.size() < n) stacks.emplace_back(new char[stack_bytes]);
    emu_grid_dim = grid;
    emu_block_dim = block;
    running = &k;
    running_params = params;
    const int nw = (n + 31) / 32;
    std::vector<Fiber> fibers(n);
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                emu_block_idx = {bx, by, bz};
                dyn_smem.assign(shared + 16, 0xA5); // garbage, as on a GPU
                block_barrier = Barrier{};
                block_barrier.expected = n;
                warps.assign(nw, Warp{});
                mma_x.assign(nw, MMAExchange{});
                for (int w = 0; w < nw; w++) warps[w].bar.expected = std::min(32, n - 32 * w);
                for (int t = 0; t < n; t++) {
                    Fiber& f = fibers[t];
                    f = Fiber{};
                    f.tid = {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                    f.lane = t % 32;
                    f.warp = t / 32;
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = stacks[t].get();
                    f.ctx.uc_stack.ss_size = stack_bytes;
                    f.ctx.uc_link = &sched_ctx;
                    makecontext(&f.ctx, fiber_main, 0);
                }
                for (int left = n; left > 0;) {
                    bool progress = false;
                    for (auto& f : fibers) {
                        if (f.done || (f.waiting && f.waiting->gen == f.wait_gen)) continue;
                        f.waiting = nullptr;
                        current = &f;
                        emu_thread_idx = f.tid;
                        tl_lane = f.lane;
                        tl_warp = f.warp;
                        swapcontext(&sched_ctx, &f.ctx);
                        progress = true;
                        if (f.done) left--;
                    }
                    if (!progress) {
                        fprintf(stderr, "cuda emulator: %s block (%u,%u,%u): %d threads wait at a barrier the others never reach\n",
                                k.name.c_str(), bx, by, bz, left);
                        abort();
                    }
                }
            }
}

// ---- the driver API ----

typedef int CUresult;
static std::mutex mu;
struct Op {
    std::function<void()> run;
};
struct Graph {
    std::vector<Op> ops;
};
static std::map<uintptr_t, Graph*> capturing; // stream -> graph being recorded
static uintptr_t next_stream = 0x100;

// enqueue runs op now, or records it when s is being captured.
static void enqueue(uintptr_t s, std::function<void()> op) {
    {
        std::lock_guard<std::mutex> lock(mu);
        auto it = capturing.find(s);
        if (it != capturing.end()) {
            it->second->ops.push_back(Op{std::move(op)});
            return;
        }
    }
    op();
}
static bool is_capturing(uintptr_t s) {
    std::lock_guard<std::mutex> lock(mu);
    return capturing.count(s) > 0;
}

extern "C" {
CUresult cuInit(unsigned) { return 0; }
CUresult cuDriverGetVersion(int* v) { *v = 12000; return 0; }
CUresult cuDeviceGetCount(int* n) { *n = 1; return 0; }
CUresult cuDeviceGet(int* d, int ord) { if (ord != 0) return 101; *d = 0; return 0; }
CUresult cuDeviceGetName(char* buf, int len, int) { snprintf(buf, len, "rpiq CUDA emulator (CPU threads)"); return 0; }
CUresult cuDeviceGetAttribute(int* v, int attr, int) {
    switch (attr) {
    case 75: *v = 9; break;      // compute capability 9.0
    case 76: *v = 0; break;
    case 16: *v = 2; break;      // two "SMs": small grids
    case 97: *v = 99 << 10; break; // opt-in shared memory per block
    case 37: *v = 64; break;
    case 36: *v = 1000000; break;
    default: *v = 0;
    }
    return 0;
}
CUresult cuDeviceTotalMem_v2(size_t* n, int) { *n = (size_t)8 << 30; return 0; }
CUresult cuDevicePrimaryCtxRetain(void** c, int) { *c = (void*)0xC7; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int) { return 0; }
CUresult cuCtxSetCurrent(void*) { return 0; }
CUresult cuCtxSynchronize() { return 0; }
CUresult cuMemAlloc_v2(uint64_t* p, size_t n) {
    void* m = aligned_alloc(256, (n + 255) & ~(size_t)255);
    if (!m) return 2;
    memset(m, 0xCD, n); // uninitialised device memory is garbage, not zeros
    *p = (uint64_t)(uintptr_t)m;
    return 0;
}
CUresult cuMemFree_v2(uint64_t p) { free((void*)(uintptr_t)p); return 0; }
CUresult cuMemAllocHost_v2(void** p, size_t n) { *p = malloc(n); return *p ? 0 : 2; }
CUresult cuMemFreeHost(void* p) { free(p); return 0; }
CUresult cuMemGetInfo_v2(size_t* f, size_t* t) { *f = (size_t)4 << 30; *t = (size_t)8 << 30; return 0; }
CUresult cuMemcpyHtoD_v2(uint64_t d, const void* s, size_t n) { memcpy((void*)(uintptr_t)d, s, n); return 0; }
CUresult cuMemcpyDtoH_v2(void* d, uint64_t s, size_t n) { memcpy(d, (void*)(uintptr_t)s, n); return 0; }
CUresult cuMemcpyDtoD_v2(uint64_t d, uint64_t s, size_t n) { memmove((void*)(uintptr_t)d, (void*)(uintptr_t)s, n); return 0; }
CUresult cuMemcpyHtoDAsync_v2(uint64_t d, const void* s, size_t n, uintptr_t st) {
    enqueue(st, [=] { memcpy((void*)(uintptr_t)d, s, n); });
    return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void* d, uint64_t s, size_t n, uintptr_t st) {
    enqueue(st, [=] { memcpy(d, (void*)(uintptr_t)s, n); });
    return 0;
}
CUresult cuMemcpyDtoDAsync_v2(uint64_t d, uint64_t s, size_t n, uintptr_t st) {
    enqueue(st, [=] { memmove((void*)(uintptr_t)d, (void*)(uintptr_t)s, n); });
    return 0;
}
CUresult cuMemsetD8_v2(uint64_t d, unsigned char v, size_t n) { memset((void*)(uintptr_t)d, v, n); return 0; }
CUresult cuMemsetD32Async(uint64_t d, unsigned v, size_t n, uintptr_t st) {
    enqueue(st, [=] {
        unsigned* p = (unsigned*)(uintptr_t)d;
        for (size_t i = 0; i < n; i++) p[i] = v;
    });
    return 0;
}
CUresult cuStreamCreate(uintptr_t* s, unsigned) { std::lock_guard<std::mutex> l(mu); *s = next_stream++; return 0; }
CUresult cuStreamDestroy_v2(uintptr_t) { return 0; }
CUresult cuStreamSynchronize(uintptr_t s) { return is_capturing(s) ? 900 : 0; } // CAPTURE_UNSUPPORTED
CUresult cuEventCreate(void** e, unsigned) { *e = new double(0); return 0; }
CUresult cuEventDestroy_v2(void* e) { delete (double*)e; return 0; }
CUresult cuEventRecord(void* e, uintptr_t s) {
    double* t = (double*)e;
    enqueue(s, [t] { *t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); });
    return 0;
}
CUresult cuEventSynchronize(void*) { return 0; }
CUresult cuEventElapsedTime(float* ms, void* a, void* b) { *ms = (float)(*(double*)b - *(double*)a); return 0; }
CUresult cuModuleLoadData(void** m, const void* image) { *m = (void*)0x30; return image ? 0 : 1; }
CUresult cuModuleUnload(void*) { return 0; }
CUresult cuModuleGetFunction(void** f, void*, const char* name) {
    for (auto& k : kernels)
        if (k.name == name) { *f = &k; return 0; }
    return 500; // CUDA_ERROR_NOT_FOUND
}
CUresult cuFuncSetAttribute(void* f, int attr, int v) {
    if (attr == 8) ((Kernel*)f)->max_dynamic_shared = v;
    return 0;
}
CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, uintptr_t st, void** params, void** extra) {
    Kernel* k = (Kernel*)f;
    if (bx * by * bz == 0 || bx * by * bz > 1024 || gx * gy * gz == 0 || gy > 65535 || gz > 65535) return 1;
    if (shared > (unsigned)k->max_dynamic_shared) return 1; // as the driver: opt in above 48 KiB
    if (extra) return 1;
    std::vector<uint64_t> p(k->nparams + 1, 0);
    for (int i = 0; i < k->nparams; i++) memcpy(&p[i], params[i], 8); // copied at launch, as the driver does
    emu_dim3 grid{gx, gy, gz}, block{bx, by, bz};
    enqueue(st, [k, grid, block, shared, p] { run_kernel(*k, grid, block, shared, p.data()); });
    return 0;
}
CUresult cuStreamBeginCapture_v2(uintptr_t s, int) {
    std::lock_guard<std::mutex> l(mu);
    if (s == 0 || capturing.count(s)) return 1;
    capturing[s] = new Graph();
    return 0;
}
CUresult cuStreamEndCapture(uintptr_t s, void** g) {
    std::lock_guard<std::mutex> l(mu);
    auto it = capturing.find(s);
    if (it == capturing.end()) return 1;
    *g = it->second;
    capturing.erase(it);
    return 0;
}
CUresult cuGraphInstantiateWithFlags(void** exec, void* g, unsigned long long) { *exec = g; return 0; }
CUresult cuGraphLaunch(void* exec, uintptr_t st) {
    Graph* g = (Graph*)exec;
    for (auto& op : g->ops) enqueue(st, op.run);
    return 0;
}
CUresult cuGraphExecDestroy(void*) { return 0; }
CUresult cuGraphDestroy(void* g) { delete (Graph*)g; return 0; }

// For the tests: does the emulator know this kernel, and with how many parameters?
int emu_kernel_params(const char* name) {
    for (auto& k : kernels)
        if (k.name == name) return k.nparams;
    return -1;
}
}
