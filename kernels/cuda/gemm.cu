// gemm.cu: matrix-matrix products for prompts (many tokens at once).
//   gemm_f32/f16/bf16: exact-float SIMT tiles for dense weights (fp32 math, as the backend's
//     conformance tolerance asks for).
//   gemm_q4/q8: tensor cores through mma.sync m16n8k16 (sm_80+: Orin is sm_87, Hopper sm_90);
//     weights are dequantized from the GPTQ layout into shared memory as f16, activations rounded
//     to f16, products accumulated in fp32.
#include "common.cuh"

// ---- dense SIMT: C[M][N] (+)= X[M][K] · W[N][K]ᵀ ----
// 64x64 tile per 256-thread block, each thread a 4x4 patch, K in steps of 16.
template <typename T>
__device__ void gemm_dense(const float* __restrict__ X, const T* __restrict__ W, float* __restrict__ C,
                           int M, int N, int K, int accumulate) {
    __shared__ float As[16][64 + 4];
    __shared__ float Bs[16][64 + 4];
    const int tid = threadIdx.x;
    const int m0 = blockIdx.y * 64, n0 = blockIdx.x * 64;
    const int tm = (tid / 16) * 4, tn = (tid % 16) * 4;
    float acc[4][4] = {};
    for (int k0 = 0; k0 < K; k0 += 16) {
        // 64 rows x 16 k of X and of W: 1024 values each, 4 per thread.
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int e = tid + i * 256;
            const int r = e / 16, k = e % 16;
            const int gm = m0 + r, gn = n0 + r, gk = k0 + k;
            As[k][r] = (gm < M && gk < K) ? X[(size_t)gm * K + gk] : 0.f;
            Bs[k][r] = (gn < N && gk < K) ? to_f32(W[(size_t)gn * K + gk]) : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < 16; k++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = As[k][tm + i], b[i] = Bs[k][tn + i];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int gm = m0 + tm + i;
        if (gm >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int gn = n0 + tn + j;
            if (gn >= N) continue;
            float* c = C + (size_t)gm * N + gn;
            *c = accumulate ? *c + acc[i][j] : acc[i][j];
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) gemm_f32(const float* X, const float* W, float* C, int M, int N, int K, int accumulate) {
    gemm_dense<float>(X, W, C, M, N, K, accumulate);
}
extern "C" __global__ void __launch_bounds__(256) gemm_f16(const float* X, const half_t* W, float* C, int M, int N, int K, int accumulate) {
    gemm_dense<half_t>(X, W, C, M, N, K, accumulate);
}
extern "C" __global__ void __launch_bounds__(256) gemm_bf16(const float* X, const bfloat_t* W, float* C, int M, int N, int K, int accumulate) {
    gemm_dense<bfloat_t>(X, W, C, M, N, K, accumulate);
}

// ---- quantized, tensor cores: C[M][N] (+)= X[M][K'] · dequant(W)[K][N] + bias ----
// Same weight arguments as gemv_q4/q8. 64x64 tile per 128-thread block (4 warps in 2x2, 32x32
// each = 2x4 mma tiles of 16x8), K in steps of 32. Shared tiles are stored [row][k] with 8 halves
// of padding so fragment loads of consecutive rows fall in different banks.
#define QT_BM 64
#define QT_BN 64
#define QT_BK 32
#define QT_LD (QT_BK + 8)

__device__ __forceinline__ void mma_16816(float* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                          unsigned b0, unsigned b1) {
#if defined(RPIQ_EMU)
    emu_mma_16816(c, a0, a1, a2, a3, b0, b1);
#elif __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
    __trap(); // the loader only compiles these kernels for sm_80 and newer
#endif
}

template <int BITS>
__device__ void gemm_q(const float* __restrict__ X, const unsigned* __restrict__ qweight,
                       const unsigned* __restrict__ qzeros, const half_t* __restrict__ scales,
                       const int* __restrict__ perm, const float* __restrict__ bias, float* __restrict__ C,
                       int M, int N, int K, int group_size, int zero_offset, int accumulate) {
    constexpr int PACK = 32 / BITS;
    constexpr unsigned MASK = (1u << BITS) - 1u;
    __shared__ __align__(16) unsigned short As[QT_BM][QT_LD];
    __shared__ __align__(16) unsigned short Bs[QT_BN][QT_LD];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
    const int gid = lane >> 2, tig = lane & 3;
    const int m0 = blockIdx.y * QT_BM, n0 = blockIdx.x * QT_BN;
    const int zwords = N * BITS / 32;
    float acc[2][4][4] = {};

    for (int k0 = 0; k0 < K; k0 += QT_BK) {
        // A: 64 x 32 activations, rounded to f16.
        for (int e = tid; e < QT_BM * QT_BK; e += 128) {
            const int r = e / QT_BK, k = e % QT_BK;
            const int gm = m0 + r, gk = k0 + k;
            float v = 0.f;
            if (gm < M && gk < K) v = X[(size_t)gm * K + (perm ? perm[gk] : gk)];
            As[r][k] = f32_to_f16(v);
        }
        // B: 32/PACK packed rows x 64 columns of words, each word PACK dequantized values.
        for (int e = tid; e < (QT_BK / PACK) * QT_BN; e += 128) {
            const int pr = e / QT_BN, c = e % QT_BN;
            const int r = k0 / PACK + pr, gn = n0 + c;
            const int kbase = r * PACK;
            if (gn < N && kbase < K) {
                const int g = kbase / group_size;
                const float s = f16_to_f32(scales[(size_t)g * N + gn].x);
                const unsigned zw = qzeros[(size_t)g * zwords + (gn * BITS) / 32];
                const float z = (float)(((zw >> ((gn * BITS) % 32)) & MASK) + zero_offset);
                const unsigned w = qweight[(size_t)r * N + gn];
#pragma unroll
                for (int j = 0; j < PACK; j++) Bs[c][pr * PACK + j] = f32_to_f16(s * ((float)((w >> (j * BITS)) & MASK) - z));
            } else {
#pragma unroll
                for (int j = 0; j < PACK; j++) Bs[c][pr * PACK + j] = 0;
            }
        }
        __syncthreads();
#pragma unroll
        for (int ks = 0; ks < QT_BK; ks += 16) {
            unsigned a[2][4], b[4][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++) {
                const int r = wm + mi * 16 + gid;
                a[mi][0] = *reinterpret_cast<const unsigned*>(&As[r][ks + tig * 2]);
                a[mi][1] = *reinterpret_cast<const unsigned*>(&As[r + 8][ks + tig * 2]);
                a[mi][2] = *reinterpret_cast<const unsigned*>(&As[r][ks + tig * 2 + 8]);
                a[mi][3] = *reinterpret_cast<const unsigned*>(&As[r + 8][ks + tig * 2 + 8]);
            }
#pragma unroll
            for (int ni = 0; ni < 4; ni++) {
                const int c = wn + ni * 8 + gid;
                b[ni][0] = *reinterpret_cast<const unsigned*>(&Bs[c][ks + tig * 2]);
                b[ni][1] = *reinterpret_cast<const unsigned*>(&Bs[c][ks + tig * 2 + 8]);
            }
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++)
                    mma_16816(acc[mi][ni], a[mi][0], a[mi][1], a[mi][2], a[mi][3], b[ni][0], b[ni][1]);
        }
        __syncthreads();
    }
    // Accumulator layout of m16n8: c0,c1 at (gid, 2*tig + {0,1}), c2,c3 at (gid + 8, same columns).
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int h = 0; h < 4; h++) {
                const int gm = m0 + wm + mi * 16 + gid + (h >> 1) * 8;
                const int gn = n0 + wn + ni * 8 + tig * 2 + (h & 1);
                if (gm >= M || gn >= N) continue;
                float v = acc[mi][ni][h] + (bias ? bias[gn] : 0.f);
                float* c = C + (size_t)gm * N + gn;
                *c = accumulate ? *c + v : v;
            }
}

extern "C" __global__ void __launch_bounds__(128) gemm_q4(const float* X, const unsigned* qweight, const unsigned* qzeros,
        const half_t* scales, const int* perm, const float* bias, float* C, int M, int N, int K, int group_size,
        int zero_offset, int accumulate) {
    gemm_q<4>(X, qweight, qzeros, scales, perm, bias, C, M, N, K, group_size, zero_offset, accumulate);
}
extern "C" __global__ void __launch_bounds__(128) gemm_q8(const float* X, const unsigned* qweight, const unsigned* qzeros,
        const half_t* scales, const int* perm, const float* bias, float* C, int M, int N, int K, int group_size,
        int zero_offset, int accumulate) {
    gemm_q<8>(X, qweight, qzeros, scales, perm, bias, C, M, N, K, group_size, zero_offset, accumulate);
}

// mma_peak measures the tensor cores' f16 throughput: four independent chains of m16n8k16 per
// warp on registers only, iters times (4096 flops per mma per warp). The result is stored so the
// work is not optimized away.
extern "C" __global__ void __launch_bounds__(256) mma_peak(float* out, int iters) {
    float c[4][4] = {};
    const unsigned a = 0x3c003c00u + threadIdx.x, b = 0x3c003c00u ^ threadIdx.x; // finite halves
    for (int i = 0; i < iters; i++) {
#pragma unroll
        for (int j = 0; j < 4; j++) mma_16816(c[j], a, a, a, a, b, b);
    }
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < 4; j++) s += c[j][0] + c[j][1] + c[j][2] + c[j][3];
    out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}
