// elementwise.cu: the small element-wise ops and the embedding lookup. Grid-stride loops, so any
// grid size is correct; the host picks one that fills the GPU.
#include "common.cuh"

#define RPIQ_FOR(i, n) for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (n); i += (long)gridDim.x * blockDim.x)

extern "C" __global__ void add_f32(float* dst, const float* a, const float* b, long n) {
    RPIQ_FOR(i, n) dst[i] = a[i] + b[i];
}

// x[r][c] += bias[c]
extern "C" __global__ void add_bias(float* x, const float* bias, long n, int cols) {
    RPIQ_FOR(i, n) x[i] += bias[i % cols];
}

// SwiGLU: dst = silu(gate) * up, silu(g) = g / (1 + e^-g).
extern "C" __global__ void silu_mul(float* dst, const float* gate, const float* up, long n) {
    RPIQ_FOR(i, n) {
        const float g = gate[i];
        dst[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

extern "C" __global__ void relu(float* x, long n) {
    RPIQ_FOR(i, n) x[i] = fmaxf(x[i], 0.0f);
}

// GELU, exact (erf) form as transformers' "gelu".
extern "C" __global__ void gelu(float* x, long n) {
    RPIQ_FOR(i, n) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

// GELU, tanh approximation ("gelu_pytorch_tanh", "gelu_new").
extern "C" __global__ void gelu_tanh(float* x, long n) {
    RPIQ_FOR(i, n) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

// out[t][:] = table[ids[t]][:] for t < tokens; ids live on the device (the sampled token of the
// previous step in a captured decode graph). Out-of-range ids give zeros, never a wild read.
template <typename T>
__device__ void embedding(float* out, const T* table, const int* ids, int tokens, int dim, int vocab) {
    const long n = (long)tokens * dim;
    RPIQ_FOR(i, n) {
        const int t = (int)(i / dim), d = (int)(i % dim);
        const int id = ids[t];
        out[i] = (id >= 0 && id < vocab) ? to_f32(table[(size_t)id * dim + d]) : 0.0f;
    }
}

extern "C" __global__ void embedding_f32(float* out, const float* table, const int* ids, int tokens, int dim, int vocab) {
    embedding<float>(out, table, ids, tokens, dim, vocab);
}
extern "C" __global__ void embedding_f16(float* out, const half_t* table, const int* ids, int tokens, int dim, int vocab) {
    embedding<half_t>(out, table, ids, tokens, dim, vocab);
}
extern "C" __global__ void embedding_bf16(float* out, const bfloat_t* table, const int* ids, int tokens, int dim, int vocab) {
    embedding<bfloat_t>(out, table, ids, tokens, dim, vocab);
}

// Conversions for weights uploaded in one type and used in another.
extern "C" __global__ void f16_to_f32_array(float* dst, const half_t* src, long n) {
    RPIQ_FOR(i, n) dst[i] = to_f32(src[i]);
}
extern "C" __global__ void bf16_to_f32_array(float* dst, const bfloat_t* src, long n) {
    RPIQ_FOR(i, n) dst[i] = to_f32(src[i]);
}

// Fill with hash-random words: the device check builds multi-gigabyte random models this way
// instead of uploading them.
extern "C" __global__ void fill_random_u32(unsigned* p, long n, unsigned long long seed) {
    RPIQ_FOR(i, n) {
        unsigned long long z = seed + (unsigned long long)(i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        p[i] = (unsigned)(z ^ (z >> 31));
    }
}

// im2col for a stride-k patch convolution: x is a gh x gw grid of tokens with C channels
// (row-major tokens), dst row o = (oy, ox) holds column c*k*k + dy*k + dx = x[(oy*k+dy)*gw + ox*k+dx][c].
extern "C" __global__ void im2col(float* dst, const float* x, int C, int gh, int gw, int k) {
    const int ow = gw / k;
    const long cols = (long)C * k * k;
    const long n = (long)(gh / k) * ow * cols;
    RPIQ_FOR(i, n) {
        const long o = i / cols;
        const int j = (int)(i % cols);
        const int c = j / (k * k), dy = (j / k) % k, dx = j % k;
        const int oy = (int)(o / ow), ox = (int)(o % ow);
        dst[i] = x[((long)(oy * k + dy) * gw + ox * k + dx) * C + c];
    }
}
