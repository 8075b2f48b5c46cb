// common.cuh: what every kernel file shares. NVRTC's CUDA 11.8 ships no cuda_fp16.h, so half and
// bfloat16 are plain 16-bit structs converted with PTX cvt instructions; nothing here needs a
// toolkit header.
#pragma once

// RPIQ_EMU is defined by emu/emu.cpp, which compiles these sources with a host C++ compiler and
// runs them on CPU threads (see emu/emu.h): the only differences are the inline PTX below and
// how dynamic shared memory is declared.
#ifdef RPIQ_EMU
#define RPIQ_DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(emu_dynamic_shared())
#else
#define RPIQ_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

struct half_t { unsigned short x; };   // IEEE 754 binary16 bits
struct bfloat_t { unsigned short x; }; // bfloat16 bits

#ifdef RPIQ_EMU
__device__ __forceinline__ float f16_to_f32(unsigned short h) { return emu_f16_to_f32(h); }
__device__ __forceinline__ unsigned short f32_to_f16(float f) { return emu_f32_to_f16(f); }
#else
__device__ __forceinline__ float f16_to_f32(unsigned short h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ unsigned short f32_to_f16(float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
#endif
__device__ __forceinline__ float bf16_to_f32(unsigned short h) { return __uint_as_float(((unsigned)h) << 16); }

// to_f32 / store_as convert any storage type the kernels accept.
__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(half_t v) { return f16_to_f32(v.x); }
__device__ __forceinline__ float to_f32(bfloat_t v) { return bf16_to_f32(v.x); }
__device__ __forceinline__ void store_as(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_as(half_t* p, float v) { p->x = f32_to_f16(v); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float warp_min(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Block-wide reductions for blockDim.x a multiple of 32 (at most 1024); sh holds 32 floats.
// Every thread gets the result.
#define RPIQ_BLOCK_REDUCE(name, warpop, identity)                          \
    __device__ __forceinline__ float name(float v, float* sh) {            \
        int lane = threadIdx.x & 31, w = threadIdx.x >> 5;                 \
        v = warpop(v);                                                     \
        __syncthreads();                                                   \
        if (lane == 0) sh[w] = v;                                          \
        __syncthreads();                                                   \
        v = (threadIdx.x < (blockDim.x >> 5)) ? sh[threadIdx.x] : identity; \
        if (w == 0) v = warpop(v);                                         \
        if (threadIdx.x == 0) sh[0] = v;                                   \
        __syncthreads();                                                   \
        return sh[0];                                                      \
    }
RPIQ_BLOCK_REDUCE(block_sum, warp_sum, 0.0f)
RPIQ_BLOCK_REDUCE(block_max, warp_max, -__int_as_float(0x7f800000))
RPIQ_BLOCK_REDUCE(block_min, warp_min, __int_as_float(0x7f800000))

#define RPIQ_NEG_INF (-__int_as_float(0x7f800000))
