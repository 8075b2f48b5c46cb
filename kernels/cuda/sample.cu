// sample.cu: token choice on the GPU, so a decode step hands back one int instead of the logits.
// Single block of 1024 threads over the vocabulary. The Go twin (ref.go, SampleRef) follows the
// same steps in the same float32 arithmetic, so the two agree except where a summation order
// moves a threshold across a probability.
#include "common.cuh"

#define SAMPLE_THREADS 1024
#define SAMPLE_BISECT 32

// argmax: lowest index of the largest logit.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) argmax(const float* __restrict__ logits, int n, int* __restrict__ out) {
    __shared__ float sv[32];
    __shared__ int si[32];
    float best = RPIQ_NEG_INF;
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = logits[i];
        if (v > best) best = v, bi = i; // strided order: a later equal value never wins
    }
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, best, o);
        const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (ov > best || (ov == best && oi < bi)) best = ov, bi = oi;
    }
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    if (lane == 0) sv[w] = best, si[w] = bi;
    __syncthreads();
    if (w == 0) {
        best = lane < (blockDim.x >> 5) ? sv[lane] : RPIQ_NEG_INF;
        bi = lane < (blockDim.x >> 5) ? si[lane] : 0x7fffffff;
        for (int o = 16; o > 0; o >>= 1) {
            const float ov = __shfl_xor_sync(0xffffffffu, best, o);
            const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (ov > best || (ov == best && oi < bi)) best = ov, bi = oi;
        }
        if (lane == 0) out[0] = bi == 0x7fffffff ? 0 : bi;
    }
}

// splitmix64: the uniform draw of step `step` under `seed`; the same function is in ref.go.
__device__ __forceinline__ float uniform01(unsigned long long seed, unsigned long long step) {
    unsigned long long z = seed + (step + 1ull) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f); // 24 bits: exact in float, in [0, 1)
}

__device__ float count_at_least(const float* x, int n, float t, float* sh) {
    float c = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) c += (x[i] >= t) ? 1.f : 0.f;
    return block_sum(c, sh);
}

// Temperature, then top-k (k <= 0: off), then top-p (p >= 1: off), then a draw. Kept set:
// logits >= tk (the k-th largest, found by bisection; ties with it are kept) and probabilities
// >= tp (the smallest probability whose "at least this likely" mass reaches top_p). The draw
// walks the kept set in index order. *step counts draws and is advanced here, so a replayed
// graph draws fresh numbers. scratch holds n floats.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_topk_topp(const float* __restrict__ logits, int n,
        float temperature, int top_k, float top_p, unsigned long long seed, unsigned long long* step,
        float* __restrict__ scratch, int* __restrict__ out) {
    __shared__ float sh[32];
    __shared__ float prefix[SAMPLE_THREADS];
    const int tid = threadIdx.x;
    float mx = RPIQ_NEG_INF, mn = -RPIQ_NEG_INF;
    for (int i = tid; i < n; i += blockDim.x) mx = fmaxf(mx, logits[i]), mn = fminf(mn, logits[i]);
    mx = block_max(mx, sh);
    mn = block_min(mn, sh);

    float tk = mn;
    if (top_k > 0 && top_k < n) {
        float lo = mn, hi = mx; // invariant: count(>= lo) >= k
        for (int it = 0; it < SAMPLE_BISECT; it++) {
            const float mid = 0.5f * (lo + hi);
            if (count_at_least(logits, n, mid, sh) >= (float)top_k) lo = mid; else hi = mid;
        }
        tk = lo;
    }
    // Unnormalized probabilities of the kept logits (the largest is exactly 1).
    const float inv_t = 1.0f / temperature;
    for (int i = tid; i < n; i += blockDim.x) {
        const float v = logits[i];
        scratch[i] = (v >= tk) ? expf((v - mx) * inv_t) : 0.f;
    }
    __syncthreads();
    float tp = 0.f;
    if (top_p < 1.0f) {
        float z = 0.f;
        for (int i = tid; i < n; i += blockDim.x) z += scratch[i];
        const float target = top_p * block_sum(z, sh);
        float lo = 0.f, hi = 1.f; // invariant: mass(>= lo) >= target
        for (int it = 0; it < SAMPLE_BISECT; it++) {
            const float mid = 0.5f * (lo + hi);
            float s = 0.f;
            for (int i = tid; i < n; i += blockDim.x) s += (scratch[i] >= mid) ? scratch[i] : 0.f;
            if (block_sum(s, sh) >= target) lo = mid; else hi = mid;
        }
        tp = lo;
    }
    // Each thread owns a contiguous chunk; exclusive prefix sums of the chunks' kept mass.
    const int chunk = (n + blockDim.x - 1) / blockDim.x;
    const int c0 = tid * chunk, c1 = min(n, c0 + chunk);
    float mine = 0.f;
    for (int i = c0; i < c1; i++) mine += (scratch[i] >= tp && scratch[i] > 0.f) ? scratch[i] : 0.f;
    prefix[tid] = mine;
    __syncthreads();
    __shared__ int last_kept; // the last thread whose chunk keeps anything
    if (tid == 0) {
        float run = 0.f;
        int last = 0;
        for (int i = 0; i < (int)blockDim.x; i++) {
            const float v = prefix[i];
            prefix[i] = run;
            run += v;
            if (v > 0.f) last = i;
        }
        sh[0] = run;
        last_kept = last;
    }
    __syncthreads();
    const float total = sh[0];
    const unsigned long long st = *step;
    const float u = uniform01(seed, st) * total;
    // Chunk intervals [prefix, prefix + mine) are disjoint, so one thread picks; the last kept
    // chunk also takes a u that rounding pushed to the total.
    if (mine > 0.f && u >= prefix[tid] && (u < prefix[tid] + mine || tid == last_kept)) {
        float run = prefix[tid];
        int pick = c0;
        for (int i = c0; i < c1; i++) {
            const float p = (scratch[i] >= tp && scratch[i] > 0.f) ? scratch[i] : 0.f;
            if (p > 0.f) {
                pick = i;
                run += p;
                if (u < run) break;
            }
        }
        out[0] = pick;
    }
    __syncthreads();
    if (tid == 0) *step = st + 1;
}
