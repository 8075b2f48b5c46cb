// emu.h: just enough of CUDA C to run this project's kernels on CPU threads, so their indexing,
// tiling, barriers, warp shuffles and the mma.sync fragment layout are tested where no GPU is.
// Blocks run one after another; the threads of a block run as fibers (ucontext) on one OS thread,
// switching at barriers and warp shuffles, so barrier semantics are exact and a barrier some
// threads never reach is reported as a deadlock; __shared__ variables are function statics (one
// block at a time uses them).
#pragma once
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <algorithm>
#include <atomic>
#include <cstdlib>

#define RPIQ_EMU 1
#define __CUDA_ARCH__ 900
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(x)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

using std::max;
using std::min;

struct uint2 { unsigned x, y; };
struct uint4 { unsigned x, y, z, w; };
struct float4 { float x, y, z, w; };
inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return uint4{a, b, c, d}; }

struct emu_dim3 { unsigned x, y, z; };
extern emu_dim3 emu_thread_idx, emu_block_idx;
extern emu_dim3 emu_block_dim, emu_grid_dim;
#define threadIdx emu_thread_idx
#define blockIdx emu_block_idx
#define blockDim emu_block_dim
#define gridDim emu_grid_dim

void __syncthreads();
float emu_shfl(float v, int src_lane);
int emu_shfl_i(int v, int src_lane);
int emu_lane();
inline float __shfl_xor_sync(unsigned, float v, int o) { return emu_shfl(v, emu_lane() ^ o); }
inline int __shfl_xor_sync(unsigned, int v, int o) { return emu_shfl_i(v, emu_lane() ^ o); }
inline float __shfl_sync(unsigned, float v, int src) { return emu_shfl(v, src); }
inline int __shfl_sync(unsigned, int v, int src) { return emu_shfl_i(v, src); }

void emu_misaligned(const void* p, unsigned size);
// __ldg faults on the GPU when p is not aligned to the loaded size; so does the emulator.
template <class T> inline T __ldg(const T* p) {
    if (reinterpret_cast<uintptr_t>(p) % sizeof(T) != 0) emu_misaligned(p, sizeof(T));
    return *p;
}
inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
inline void __trap() { abort(); }

void* emu_dynamic_shared();
float emu_f16_to_f32(unsigned short h);
unsigned short emu_f32_to_f16(float f);
void emu_mma_16816(float* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1);
