// Package cpu holds the CPU math kernels: a persistent worker pool, dense float matmul, norms,
// RoPE, softmax and activations in pure Go. Quantized kernels live in kernels/cpu/q (with amd64 and
// arm64 assembly beside their pure-Go twins).
package cpu
