// attention.cu: the KV cache and causal attention with grouped keys/values (GQA).
//
// Cache layout per layer: K and V each [max_seq][kv_dim] (kv_dim = kv_heads * head_dim), one row
// per position, in f16 (the default: half the bytes to read per token) or f32. Query head h reads
// kv head h / (heads / kv_heads). Positions come from pos0 + (*pos_dev if given), so the decode
// step can be captured once as a CUDA graph and replayed with the position in device memory.
#include "common.cuh"

// Store rows t < tokens of k and v (f32 [tokens][kv_dim]) at positions pos .. pos+tokens-1.
template <typename T>
__device__ void kv_store(const float* k, const float* v, T* kc, T* vc, int tokens, int kv_dim, int pos0,
                         const int* pos_dev) {
    const int pos = pos0 + (pos_dev ? *pos_dev : 0);
    const long n = (long)tokens * kv_dim;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        const size_t dst = (size_t)pos * kv_dim + i;
        store_as(kc + dst, k[i]);
        store_as(vc + dst, v[i]);
    }
}

extern "C" __global__ void kv_store_f16(const float* k, const float* v, half_t* kc, half_t* vc, int tokens, int kv_dim,
                                        int pos0, const int* pos_dev) {
    kv_store<half_t>(k, v, kc, vc, tokens, kv_dim, pos0, pos_dev);
}
extern "C" __global__ void kv_store_f32(const float* k, const float* v, float* kc, float* vc, int tokens, int kv_dim,
                                        int pos0, const int* pos_dev) {
    kv_store<float>(k, v, kc, vc, tokens, kv_dim, pos0, pos_dev);
}

// ---- decode: one query row at position pos attends to positions 0..pos ----
// One block per query head, 256 threads. Dynamic shared memory: (max_seq + head_dim + 256 + 32)
// floats: the scores, q, and the partial sums of the value pass.
template <typename T>
__device__ void attention_decode(const float* __restrict__ q, const T* __restrict__ kc, const T* __restrict__ vc,
                                 float* __restrict__ out, int heads, int kv_heads, int head_dim, float scale,
                                 int pos0, const int* __restrict__ pos_dev) {
    RPIQ_DYNAMIC_SHARED(float, smem);
    const int seq = pos0 + (pos_dev ? *pos_dev : 0) + 1;
    const int h = blockIdx.x, kvh = h / (heads / kv_heads);
    const int kv_dim = kv_heads * head_dim;
    float* red = smem;               // 32
    float* qs = smem + 32;           // head_dim
    float* partial = qs + head_dim;  // 256
    float* scores = partial + 256;   // seq
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = blockDim.x >> 5;

    for (int d = tid; d < head_dim; d += blockDim.x) qs[d] = q[(size_t)h * head_dim + d] * scale;
    __syncthreads();
    const T* kh = kc + (size_t)kvh * head_dim;
    for (int t = warp; t < seq; t += nwarps) {
        const T* kr = kh + (size_t)t * kv_dim;
        float s = 0.f;
        for (int d = lane; d < head_dim; d += 32) s += qs[d] * to_f32(kr[d]);
        s = warp_sum(s);
        if (lane == 0) scores[t] = s;
    }
    __syncthreads();
    float m = RPIQ_NEG_INF;
    for (int t = tid; t < seq; t += blockDim.x) m = fmaxf(m, scores[t]);
    m = block_max(m, red);
    float l = 0.f;
    for (int t = tid; t < seq; t += blockDim.x) {
        const float p = expf(scores[t] - m);
        scores[t] = p;
        l += p;
    }
    l = block_sum(l, red); // its barriers also publish the exponentiated scores
    const float inv_l = 1.0f / l;

    // Values: thread (slice, d) sums positions t = slice, slice + slices, ...
    const int slices = blockDim.x / head_dim; // head_dim <= blockDim.x (checked by the host)
    const int d = tid % head_dim, slice = tid / head_dim;
    float acc = 0.f;
    if (slice < slices) {
        const T* vh = vc + (size_t)kvh * head_dim + d;
        for (int t = slice; t < seq; t += slices) acc += scores[t] * to_f32(vh[(size_t)t * kv_dim]);
        partial[tid] = acc;
    }
    __syncthreads();
    if (tid < head_dim) {
        float v = 0.f;
        for (int s2 = 0; s2 < slices; s2++) v += partial[s2 * head_dim + tid];
        out[(size_t)h * head_dim + tid] = v * inv_l;
    }
}

extern "C" __global__ void __launch_bounds__(256) attention_decode_f16(const float* q, const half_t* kc, const half_t* vc,
        float* out, int heads, int kv_heads, int head_dim, float scale, int pos0, const int* pos_dev) {
    attention_decode<half_t>(q, kc, vc, out, heads, kv_heads, head_dim, scale, pos0, pos_dev);
}
extern "C" __global__ void __launch_bounds__(256) attention_decode_f32(const float* q, const float* kc, const float* vc,
        float* out, int heads, int kv_heads, int head_dim, float scale, int pos0, const int* pos_dev) {
    attention_decode<float>(q, kc, vc, out, heads, kv_heads, head_dim, scale, pos0, pos_dev);
}

// ---- decode split over positions (flash-decoding) for long contexts ----
// attention_decode_part: grid (heads, splits); split s covers positions [s*chunk, (s+1)*chunk)
// of 0..pos and writes its running max m, its sum l of e^(score-m) and acc = sum e^(score-m) v
// to part[(h*splits + s)*(head_dim + 2) ...] as (m, l, acc[head_dim]); an empty split writes
// m = -inf, l = 0. attention_decode_combine merges the splits of each head. Shared memory is
// (32 + head_dim + 256 + chunk) floats whatever the context length.
template <typename T>
__device__ void attention_decode_part(const float* __restrict__ q, const T* __restrict__ kc, const T* __restrict__ vc,
                                      float* __restrict__ part, int heads, int kv_heads, int head_dim, float scale,
                                      int pos0, const int* __restrict__ pos_dev, int chunk) {
    RPIQ_DYNAMIC_SHARED(float, smem);
    const int seq = pos0 + (pos_dev ? *pos_dev : 0) + 1;
    const int h = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
    const int kvh = h / (heads / kv_heads), kv_dim = kv_heads * head_dim;
    const int t0 = split * chunk, t1 = min(seq, t0 + chunk);
    float* dst = part + ((size_t)h * splits + split) * (head_dim + 2);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = blockDim.x >> 5;
    if (t0 >= t1) { // uniform over the block
        for (int d = tid; d < head_dim + 2; d += blockDim.x) dst[d] = d == 0 ? RPIQ_NEG_INF : 0.f;
        return;
    }
    float* red = smem;
    float* qs = smem + 32;
    float* partial = qs + head_dim;
    float* scores = partial + 256; // chunk
    for (int d = tid; d < head_dim; d += blockDim.x) qs[d] = q[(size_t)h * head_dim + d] * scale;
    __syncthreads();
    const T* kh = kc + (size_t)kvh * head_dim;
    for (int t = t0 + warp; t < t1; t += nwarps) {
        const T* kr = kh + (size_t)t * kv_dim;
        float sc = 0.f;
        for (int d = lane; d < head_dim; d += 32) sc += qs[d] * to_f32(kr[d]);
        sc = warp_sum(sc);
        if (lane == 0) scores[t - t0] = sc;
    }
    __syncthreads();
    float m = RPIQ_NEG_INF;
    for (int t = tid; t < t1 - t0; t += blockDim.x) m = fmaxf(m, scores[t]);
    m = block_max(m, red);
    float l = 0.f;
    for (int t = tid; t < t1 - t0; t += blockDim.x) {
        const float p = expf(scores[t] - m);
        scores[t] = p;
        l += p;
    }
    l = block_sum(l, red);
    const int slices = blockDim.x / head_dim;
    const int d = tid % head_dim, slice = tid / head_dim;
    if (slice < slices) {
        const T* vh = vc + (size_t)kvh * head_dim + d;
        float acc = 0.f;
        for (int t = t0 + slice; t < t1; t += slices) acc += scores[t - t0] * to_f32(vh[(size_t)t * kv_dim]);
        partial[tid] = acc;
    }
    __syncthreads();
    if (tid < head_dim) {
        float v = 0.f;
        for (int s2 = 0; s2 < slices; s2++) v += partial[s2 * head_dim + tid];
        dst[2 + tid] = v;
    }
    if (tid == 0) dst[0] = m, dst[1] = l;
}

extern "C" __global__ void __launch_bounds__(256) attention_decode_part_f16(const float* q, const half_t* kc, const half_t* vc,
        float* part, int heads, int kv_heads, int head_dim, float scale, int pos0, const int* pos_dev, int chunk) {
    attention_decode_part<half_t>(q, kc, vc, part, heads, kv_heads, head_dim, scale, pos0, pos_dev, chunk);
}
extern "C" __global__ void __launch_bounds__(256) attention_decode_part_f32(const float* q, const float* kc, const float* vc,
        float* part, int heads, int kv_heads, int head_dim, float scale, int pos0, const int* pos_dev, int chunk) {
    attention_decode_part<float>(q, kc, vc, part, heads, kv_heads, head_dim, scale, pos0, pos_dev, chunk);
}

// out[h][d] = sum_s acc_s[d] e^(m_s - M) / sum_s l_s e^(m_s - M), M = max_s m_s. One block per
// head, threads over d.
extern "C" __global__ void attention_decode_combine(const float* __restrict__ part, float* __restrict__ out, int splits,
                                                    int head_dim) {
    const int h = blockIdx.x;
    const float* ph = part + (size_t)h * splits * (head_dim + 2);
    float M = RPIQ_NEG_INF;
    for (int s2 = 0; s2 < splits; s2++) M = fmaxf(M, ph[s2 * (head_dim + 2)]);
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
        float num = 0.f, den = 0.f;
        for (int s2 = 0; s2 < splits; s2++) {
            const float* p = ph + s2 * (head_dim + 2);
            if (p[0] == RPIQ_NEG_INF) continue; // empty split
            const float w = expf(p[0] - M);
            num += w * p[2 + d];
            den += w * p[1];
        }
        out[(size_t)h * head_dim + d] = num / den;
    }
}

// ---- prefill, flash-style: rows i < tokens at positions pos0+i attend to 0..pos0+i ----
// (causal = 0: every row attends to all kv_len keys, as a ViT does; kc/vc are then the k and v
// tensors themselves, [kv_len][kv_dim] f32.)
// Grid (ceil(tokens/16), heads), 128 threads: each warp owns 4 query rows; keys and values go
// through shared memory 32 positions at a time with an online softmax, so the tokens x seq score
// matrix never exists. Lane j scores key j of a tile; lane owns output dims lane + 32*i.
// Dynamic shared memory: (16*head_dim + 32*(head_dim+1) + 32*head_dim) floats; head_dim <= 256.
#define FA_ROWS 16
#define FA_KEYS 32
#define FA_MAXD 8

template <typename T>
__device__ void attention_prefill(const float* __restrict__ q, const T* __restrict__ kc, const T* __restrict__ vc,
                                  float* __restrict__ out, int tokens, int heads, int kv_heads, int head_dim,
                                  float scale, int pos0, int kv_len, int causal) {
    RPIQ_DYNAMIC_SHARED(float, smem);
    float* Qs = smem;                              // [16][head_dim]
    float* Ks = Qs + FA_ROWS * head_dim;           // [32][head_dim + 1]
    float* Vs = Ks + FA_KEYS * (head_dim + 1);     // [32][head_dim]
    const int h = blockIdx.y, kvh = h / (heads / kv_heads);
    const int kv_dim = kv_heads * head_dim, q_dim = heads * head_dim;
    const int row0 = blockIdx.x * FA_ROWS;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    for (int e = tid; e < FA_ROWS * head_dim; e += blockDim.x) {
        const int r = e / head_dim, d = e % head_dim;
        Qs[e] = (row0 + r < tokens) ? q[(size_t)(row0 + r) * q_dim + (size_t)h * head_dim + d] * scale : 0.f;
    }
    float m[4], l[4], acc[4][FA_MAXD];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        m[i] = RPIQ_NEG_INF, l[i] = 0.f;
#pragma unroll
        for (int j = 0; j < FA_MAXD; j++) acc[i][j] = 0.f;
    }
    const int last_row = min(tokens, row0 + FA_ROWS) - 1;
    const int kv_end = causal ? pos0 + last_row + 1 : kv_len; // keys this block needs
    for (int t0 = 0; t0 < kv_end; t0 += FA_KEYS) {
        __syncthreads(); // the previous tile is consumed (and Qs is written before the first)
        for (int e = tid; e < FA_KEYS * head_dim; e += blockDim.x) {
            const int j = e / head_dim, d = e % head_dim;
            const int t = t0 + j;
            float kv = 0.f, vv = 0.f;
            if (t < kv_end) {
                const size_t off = (size_t)t * kv_dim + (size_t)kvh * head_dim + d;
                kv = to_f32(kc[off]);
                vv = to_f32(vc[off]);
            }
            Ks[j * (head_dim + 1) + d] = kv;
            Vs[j * head_dim + d] = vv;
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int r = warp * 4 + i;
            const int row = row0 + r;
            if (row >= tokens) continue; // warp-uniform
            const int pos = pos0 + row;
            const int t = t0 + lane;
            float s = RPIQ_NEG_INF;
            if (causal ? t <= pos : t < kv_len) {
                s = 0.f;
                const float* qr = Qs + r * head_dim;
                const float* kr = Ks + lane * (head_dim + 1);
                for (int d = 0; d < head_dim; d++) s += qr[d] * kr[d];
            }
            const float m_new = fmaxf(m[i], warp_max(s));
            if (m_new == RPIQ_NEG_INF) continue; // the whole tile is in this row's future
            const float p = (s == RPIQ_NEG_INF) ? 0.f : expf(s - m_new);
            const float corr = (m[i] == RPIQ_NEG_INF) ? 0.f : expf(m[i] - m_new);
            l[i] = l[i] * corr + warp_sum(p);
#pragma unroll
            for (int j = 0; j < FA_MAXD; j++) acc[i][j] *= corr;
            for (int jj = 0; jj < FA_KEYS; jj++) {
                const float pj = __shfl_sync(0xffffffffu, p, jj);
                const float* vr = Vs + jj * head_dim;
#pragma unroll
                for (int j = 0; j < FA_MAXD; j++) {
                    const int d = lane + 32 * j;
                    if (d < head_dim) acc[i][j] += pj * vr[d];
                }
            }
            m[i] = m_new;
        }
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int row = row0 + warp * 4 + i;
        if (row >= tokens) continue;
        const float inv = 1.0f / l[i];
#pragma unroll
        for (int j = 0; j < FA_MAXD; j++) {
            const int d = lane + 32 * j;
            if (d < head_dim) out[(size_t)row * q_dim + (size_t)h * head_dim + d] = acc[i][j] * inv;
        }
    }
}

extern "C" __global__ void __launch_bounds__(128) attention_prefill_f16(const float* q, const half_t* kc, const half_t* vc,
        float* out, int tokens, int heads, int kv_heads, int head_dim, float scale, int pos0, int kv_len, int causal) {
    attention_prefill<half_t>(q, kc, vc, out, tokens, heads, kv_heads, head_dim, scale, pos0, kv_len, causal);
}
extern "C" __global__ void __launch_bounds__(128) attention_prefill_f32(const float* q, const float* kc, const float* vc,
        float* out, int tokens, int heads, int kv_heads, int head_dim, float scale, int pos0, int kv_len, int causal) {
    attention_prefill<float>(q, kc, vc, out, tokens, heads, kv_heads, head_dim, scale, pos0, kv_len, causal);
}
