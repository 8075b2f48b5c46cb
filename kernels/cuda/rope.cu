// rope.cu: rotary position embedding, Hugging Face rotate-half style: within each head, value j
// pairs with j + head_dim/2. Row r of x sits at position pos0 + r + (*pos_dev if given); reading
// the base position from device memory lets a captured decode graph be replayed at each step.
// With pos_rows, row r is at pos_rows[r] instead (CogVLM2 gives image tokens one position).
#include "common.cuh"

extern "C" __global__ void rope(float* __restrict__ x, int rows, int cols, int head_dim, int pos0,
                                const int* __restrict__ pos_dev, const int* __restrict__ pos_rows,
                                const float* __restrict__ inv_freq) {
    const int half = head_dim / 2;
    const int heads = cols / head_dim;
    const long total = (long)rows * heads * half;
    const int base = pos0 + (pos_dev ? *pos_dev : 0);
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < total; e += (long)gridDim.x * blockDim.x) {
        const int j = (int)(e % half);
        const long rh = e / half;
        const int r = (int)(rh / heads), h = (int)(rh % heads);
        // The angle in double: positions reach 10^5 and f32 would lose the low bits of pos*freq.
        double sn, cs;
        const int p = pos_rows ? pos_rows[r] : base + r;
        sincos((double)p * (double)inv_freq[j], &sn, &cs);
        float* v = x + (size_t)r * cols + (size_t)h * head_dim;
        const float a = v[j], b = v[j + half];
        v[j] = (float)(a * cs - b * sn);
        v[j + half] = (float)(b * cs + a * sn);
    }
}
