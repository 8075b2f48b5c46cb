// rope.cu: rotary position embedding, Hugging Face rotate-half style: within each head, value j
// pairs with j + head_dim/2. Row r of x sits at position pos0 + r + (*pos_dev if given); reading
// the base position from device memory lets a captured decode graph be replayed at each step.
#include "common.cuh"

extern "C" __global__ void rope(float* __restrict__ x, int rows, int cols, int head_dim, int pos0,
                                const int* __restrict__ pos_dev, const float* __restrict__ inv_freq) {
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
        sincos((double)(base + r) * (double)inv_freq[j], &sn, &cs);
        float* p = x + (size_t)r * cols + (size_t)h * head_dim;
        const float a = p[j], b = p[j + half];
        p[j] = (float)(a * cs - b * sn);
        p[j + half] = (float)(b * cs + a * sn);
    }
}
