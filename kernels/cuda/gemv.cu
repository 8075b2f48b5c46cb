// gemv.cu: matrix-vector products for decode (one token), the step that reads every weight once
// per token. They are memory-bound: each thread issues 128-bit loads and keeps the math simple.
#include "common.cuh"

// ---- quantized, GPTQ layout read as stored ----
//
// y[n] (+)= sum_k x[k'] * scale[g][n] * (q[k][n] - zero[g][n]) + bias[n]
//   k' = perm ? perm[k] : k (act-order checkpoints are loaded with rows sorted by group and the
//   permutation kept here), g = k / group_size.
//   qweight: u32 [K*BITS/32][N], BITS-bit codes packed along K, lowest bits first (GPTQ).
//   qzeros:  u32 [G][N*BITS/32], packed along N; stored zero + zero_offset is the zero (1 for
//   GPTQ v1 checkpoints, 0 for v2). scales: f16 [G][N].
// Block (32, 8): threadIdx.x owns 4 adjacent columns (one 128-bit load of 4 packed words per
// packed row), threadIdx.y takes every 8th packed row. gridDim.x covers N in 128-column tiles;
// gridDim.y splits K, and then the blocks meet with atomicAdd, so y must be zeroed first.
// Requires N % 8 == 0, group_size % (32/BITS) == 0 and 16-byte aligned qweight rows.
template <int BITS>
__device__ void gemv_q(const float* __restrict__ x, const unsigned* __restrict__ qweight,
                       const unsigned* __restrict__ qzeros, const half_t* __restrict__ scales,
                       const int* __restrict__ perm, const float* __restrict__ bias,
                       float* __restrict__ y, int K, int N, int group_size, int zero_offset,
                       int accumulate) {
    constexpr int PACK = 32 / BITS;
    constexpr unsigned MASK = (1u << BITS) - 1u;
    constexpr float MAGIC = 8388608.0f; // 2^23
    __shared__ float partial[8][129];

    const int n0 = (blockIdx.x * 32 + threadIdx.x) * 4;
    const int rows = K / PACK;
    const int per_split = (rows + gridDim.y - 1) / gridDim.y;
    const int r_begin = blockIdx.y * per_split;
    const int r_end = min(rows, r_begin + per_split);
    const int zwords = N * BITS / 32;
    const bool x_unaligned = (reinterpret_cast<size_t>(x) & 15) != 0;

    float total[4] = {0.f, 0.f, 0.f, 0.f};
    if (n0 < N) {
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        float s[4] = {0.f, 0.f, 0.f, 0.f}, zm[4] = {0.f, 0.f, 0.f, 0.f};
        int g_cur = -1;
        // One packed row ahead is already loading while the current one is unpacked.
        int r = r_begin + threadIdx.y;
        uint4 w_next = make_uint4(0u, 0u, 0u, 0u);
        if (r < r_end) w_next = __ldg(reinterpret_cast<const uint4*>(qweight + (size_t)r * N + n0));
        for (; r < r_end; r += 8) {
            const uint4 w = w_next;
            if (r + 8 < r_end) w_next = __ldg(reinterpret_cast<const uint4*>(qweight + (size_t)(r + 8) * N + n0));
            const int g = (r * PACK) / group_size;
            if (g != g_cur) {
#pragma unroll
                for (int c = 0; c < 4; c++) total[c] += s[c] * acc[c], acc[c] = 0.f; // close the group
                g_cur = g;
                const uint2 sv = __ldg(reinterpret_cast<const uint2*>(scales + (size_t)g * N + n0));
                s[0] = f16_to_f32(sv.x & 0xffff); s[1] = f16_to_f32(sv.x >> 16);
                s[2] = f16_to_f32(sv.y & 0xffff); s[3] = f16_to_f32(sv.y >> 16);
                const unsigned zw = qzeros[(size_t)g * zwords + (n0 * BITS) / 32];
                const int shift0 = (n0 * BITS) % 32;
#pragma unroll
                for (int c = 0; c < 4; c++) zm[c] = MAGIC + (float)(((zw >> (shift0 + c * BITS)) & MASK) + zero_offset);
            }
            // The PACK inputs of this packed row: 128-bit loads unless act-order permutes them or
            // x is a row view that is not 16-byte aligned.
            float xv[PACK];
            if (perm || x_unaligned) {
#pragma unroll
                for (int j = 0; j < PACK; j++) xv[j] = __ldg(x + (perm ? perm[r * PACK + j] : r * PACK + j));
            } else {
#pragma unroll
                for (int j = 0; j < PACK; j += 4) {
                    const float4 v = __ldg(reinterpret_cast<const float4*>(x + r * PACK + j));
                    xv[j] = v.x, xv[j + 1] = v.y, xv[j + 2] = v.z, xv[j + 3] = v.w;
                }
            }
            // The hot loop. A code q becomes a float without an int-to-float conversion (those
            // issue at a quarter of the FMA rate): the bits 0x4B000000 | q are 2^23 + q exactly,
            // and subtracting 2^23 + z leaves q - z exactly.
            const unsigned wc[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
            for (int j = 0; j < PACK; j++) {
#pragma unroll
                for (int c = 0; c < 4; c++)
                    acc[c] += xv[j] * (__uint_as_float(((wc[c] >> (j * BITS)) & MASK) | 0x4B000000u) - zm[c]);
            }
        }
#pragma unroll
        for (int c = 0; c < 4; c++) total[c] += s[c] * acc[c];
    }
    // Reduce the 8 K-slices of the block.
#pragma unroll
    for (int c = 0; c < 4; c++) partial[threadIdx.y][threadIdx.x * 4 + c] = total[c];
    __syncthreads();
    if (threadIdx.y == 0 && n0 < N) {
#pragma unroll
        for (int c = 0; c < 4; c++) {
            float v = 0.f;
#pragma unroll
            for (int t = 0; t < 8; t++) v += partial[t][threadIdx.x * 4 + c];
            if (bias && blockIdx.y == 0) v += bias[n0 + c];
            if (gridDim.y == 1) {
                y[n0 + c] = accumulate ? y[n0 + c] + v : v;
            } else {
                atomicAdd(y + n0 + c, v);
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) gemv_q4(const float* x, const unsigned* qweight, const unsigned* qzeros,
        const half_t* scales, const int* perm, const float* bias, float* y, int K, int N, int group_size,
        int zero_offset, int accumulate) {
    gemv_q<4>(x, qweight, qzeros, scales, perm, bias, y, K, N, group_size, zero_offset, accumulate);
}

extern "C" __global__ void __launch_bounds__(256) gemv_q8(const float* x, const unsigned* qweight, const unsigned* qzeros,
        const half_t* scales, const int* perm, const float* bias, float* y, int K, int N, int group_size,
        int zero_offset, int accumulate) {
    gemv_q<8>(x, qweight, qzeros, scales, perm, bias, y, K, N, group_size, zero_offset, accumulate);
}

// ---- dense, Hugging Face layout ----
//
// y[n] (+)= sum_k x[k] * w[n][k], w row-major [N][K] in its stored type. One warp per output row;
// lanes read 16 bytes at a time along K when K allows it, else one value at a time.
template <typename T>
__device__ void gemv_dense(const float* __restrict__ x, const T* __restrict__ w, float* __restrict__ y,
                           int K, int N, int accumulate) {
    const int lane = threadIdx.x & 31;
    const int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (n >= N) return;
    const T* row = w + (size_t)n * K;
    constexpr int V = 16 / sizeof(T); // values per 128-bit load
    float acc = 0.f;
    if (K % V == 0 && (reinterpret_cast<size_t>(w) & 15) == 0) {
        for (int k = lane * V; k < K; k += 32 * V) {
            const uint4 raw = __ldg(reinterpret_cast<const uint4*>(row + k));
            const T* v = reinterpret_cast<const T*>(&raw);
#pragma unroll
            for (int j = 0; j < V; j++) acc += x[k + j] * to_f32(v[j]);
        }
    } else {
        for (int k = lane; k < K; k += 32) acc += x[k] * to_f32(row[k]);
    }
    acc = warp_sum(acc);
    if (lane == 0) y[n] = accumulate ? y[n] + acc : acc;
}

extern "C" __global__ void gemv_f32(const float* x, const float* w, float* y, int K, int N, int accumulate) {
    gemv_dense<float>(x, w, y, K, N, accumulate);
}
extern "C" __global__ void gemv_f16(const float* x, const half_t* w, float* y, int K, int N, int accumulate) {
    gemv_dense<half_t>(x, w, y, K, N, accumulate);
}
extern "C" __global__ void gemv_bf16(const float* x, const bfloat_t* w, float* y, int K, int N, int accumulate) {
    gemv_dense<bfloat_t>(x, w, y, K, N, accumulate);
}
