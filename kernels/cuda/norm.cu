// norm.cu: RMSNorm (per row, or per group of a row such as Qwen3's per-head q/k norm) and
// LayerNorm. One block per normalized group; blockDim.x a multiple of 32.
#include "common.cuh"

// out[i] = x[i] / sqrt(mean(x_group^2) + eps) * w[i % group]; block b normalizes group b of the
// flattened [rows][cols] input (cols % group == 0).
extern "C" __global__ void rmsnorm(const float* __restrict__ x, const float* __restrict__ w, float* __restrict__ out,
                                   int group, float eps) {
    __shared__ float sh[32];
    const size_t base = (size_t)blockIdx.x * group;
    float ss = 0.f;
    for (int i = threadIdx.x; i < group; i += blockDim.x) {
        const float v = x[base + i];
        ss += v * v;
    }
    ss = block_sum(ss, sh);
    const float inv = 1.0f / sqrtf(ss / (float)group + eps);
    for (int i = threadIdx.x; i < group; i += blockDim.x) out[base + i] = x[base + i] * inv * w[i];
}

// out = (x - mean) / sqrt(var + eps) * w + b over each row of cols values; two passes over the
// row so the variance is not the difference of two large sums.
extern "C" __global__ void layernorm(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b,
                                     float* __restrict__ out, int cols, float eps) {
    __shared__ float sh[32];
    const size_t base = (size_t)blockIdx.x * cols;
    float s = 0.f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) s += x[base + i];
    const float mean = block_sum(s, sh) / (float)cols;
    float v = 0.f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        const float d = x[base + i] - mean;
        v += d * d;
    }
    const float inv = 1.0f / sqrtf(block_sum(v, sh) / (float)cols + eps);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) out[base + i] = (x[base + i] - mean) * inv * w[i] + b[i];
}
