//go:build !noasm && !purego

#include "textflag.h"

// AVX-512 VNNI kernels: VPDPBUSD multiplies unsigned code bytes by signed activation bytes and adds
// each group of 4 products into a 32-bit lane, without intermediate saturation, so one zmm holds
// 16 rows' sums and 8-bit codes need no splitting. Activations come in by 32-bit broadcast.
// Same arguments and register roles as the AVX2 kernels.

DATA nibbles512<>+0(SB)/4, $0x0f0f0f0f
GLOBL nibbles512<>(SB), RODATA|NOPTR, $4

// PFD: how far ahead the 4-bit and 8-bit loops prefetch their codes (PFD2: the next line). At 1 KiB
// decode ran about 10% slower with one or two threads (docs/BENCHMARKS.md, issue 13): the hardware
// prefetcher alone does not keep enough lines in flight for a memory-bound stream.
#define PFD 4096
#define PFD2 4160

#define LOADARGS512 \
	MOVQ w+0(FP), SI; \
	MOVQ sm+8(FP), DX; \
	MOVQ xq+16(FP), DI; \
	MOVQ xd+24(FP), R8; \
	MOVQ nb+32(FP), CX; \
	MOVQ steps+40(FP), R9; \
	MOVQ out+48(FP), R10

// Metadata records (q.go): 16 fp16 scales, then 16 zeros, uint8 for 4-bit codes (48 bytes) and
// uint16 for 8-bit codes (64 bytes). META4/META8: s → sreg, s·z → mreg (exact in float32).
#define META4(sreg, mreg) \
	VCVTPH2PS (DX), sreg; \
	VPMOVZXBD 32(DX), mreg; \
	VCVTDQ2PS mreg, mreg; \
	VMULPS sreg, mreg, mreg

#define META8(sreg, mreg) \
	VCVTPH2PS (DX), sreg; \
	VPMOVZXWD 32(DX), mreg; \
	VCVTDQ2PS mreg, mreg; \
	VMULPS sreg, mreg, mreg

// BLOCKEND512: Z14 += float(Z10)·d·s − (s·z)·xsum, then the next block's record (size bytes).
#define BLOCKEND512(META, size) \
	VCVTDQ2PS Z10, Z10; \
	VMULPS.BCST (R8), Z10, Z10; \
	META(Z2, Z3); \
	VFMADD231PS Z2, Z10, Z14; \
	VBROADCASTSS 4(R8), Z1; \
	VFNMADD231PS Z3, Z1, Z14; \
	ADDQ $size, DX; \
	ADDQ $8, R8

// func dot4AVX512(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)
TEXT ·dot4AVX512(SB), NOSPLIT, $0-56
	LOADARGS512
	VPBROADCASTD nibbles512<>(SB), Z15
	VPXORD Z14, Z14, Z14

v4block:
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	MOVQ R9, R11
	CMPQ R11, $2
	JL   v4single

v4pair:
	// The hot loop: two steps (16 inputs × 16 rows), four independent accumulators.
	PREFETCHT0 PFD(SI)
	PREFETCHT0 PFD2(SI)
	VMOVDQU64 (SI), Z0
	VMOVDQU64 64(SI), Z2
	VPSRLW $4, Z0, Z1
	VPSRLW $4, Z2, Z3
	VPANDD Z15, Z0, Z0
	VPANDD Z15, Z1, Z1
	VPANDD Z15, Z2, Z2
	VPANDD Z15, Z3, Z3
	VPDPBUSD.BCST (DI), Z0, Z10
	VPDPBUSD.BCST 4(DI), Z1, Z11
	VPDPBUSD.BCST 8(DI), Z2, Z12
	VPDPBUSD.BCST 12(DI), Z3, Z13
	ADDQ $128, SI
	ADDQ $16, DI
	SUBQ $2, R11
	CMPQ R11, $2
	JGE  v4pair

v4single:
	TESTQ R11, R11
	JZ    v4epi
	VMOVDQU64 (SI), Z0
	VPSRLW $4, Z0, Z1
	VPANDD Z15, Z0, Z0
	VPANDD Z15, Z1, Z1
	VPDPBUSD.BCST (DI), Z0, Z10
	VPDPBUSD.BCST 4(DI), Z1, Z11
	ADDQ $64, SI
	ADDQ $8, DI

v4epi:
	VPADDD Z11, Z10, Z10
	VPADDD Z13, Z12, Z12
	VPADDD Z12, Z10, Z10
	BLOCKEND512(META4, 48)
	DECQ CX
	JNZ  v4block

	VMOVUPS Z14, (R10)
	VZEROUPPER
	RET

// func dot8AVX512(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)
// steps = inputs/4 is even (blocks are multiples of 8 inputs).
TEXT ·dot8AVX512(SB), NOSPLIT, $0-56
	LOADARGS512
	VPXORD Z14, Z14, Z14

v8block:
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	MOVQ R9, R11

v8pair:
	PREFETCHT0 PFD(SI)
	PREFETCHT0 PFD2(SI)
	VMOVDQU64 (SI), Z0
	VMOVDQU64 64(SI), Z1
	VPDPBUSD.BCST (DI), Z0, Z10
	VPDPBUSD.BCST 4(DI), Z1, Z11
	ADDQ $128, SI
	ADDQ $8, DI
	SUBQ $2, R11
	JNZ  v8pair

	VPADDD Z11, Z10, Z10
	BLOCKEND512(META8, 64)
	DECQ CX
	JNZ  v8block

	VMOVUPS Z14, (R10)
	VZEROUPPER
	RET

// Tile kernels: int32 sums of token t in Z(16+t) (low nibbles / even steps) and Z(20+t) (high
// nibbles / odd steps), float sums in Z(24+t).

// TILEEPI512: token t's block epilogue; doff = 8t; s in Z4, s·z in Z5.
#define TILEEPI512(doff, ia, ib, acc) \
	VPADDD ib, ia, ia; \
	VCVTDQ2PS ia, ia; \
	VMULPS.BCST doff(R8), ia, ia; \
	VFMADD231PS Z4, ia, acc; \
	VBROADCASTSS (doff+4)(R8), Z2; \
	VFNMADD231PS Z5, Z2, acc; \
	VPXORD ia, ia, ia; \
	VPXORD ib, ib, ib

#define TILEZERO512 \
	VPXORD Z16, Z16, Z16; \
	VPXORD Z17, Z17, Z17; \
	VPXORD Z18, Z18, Z18; \
	VPXORD Z19, Z19, Z19; \
	VPXORD Z20, Z20, Z20; \
	VPXORD Z21, Z21, Z21; \
	VPXORD Z22, Z22, Z22; \
	VPXORD Z23, Z23, Z23; \
	VPXORD Z24, Z24, Z24; \
	VPXORD Z25, Z25, Z25; \
	VPXORD Z26, Z26, Z26; \
	VPXORD Z27, Z27, Z27

#define TILEEND512(META, size) \
	META(Z4, Z5); \
	TILEEPI512(0, Z16, Z20, Z24); \
	TILEEPI512(8, Z17, Z21, Z25); \
	TILEEPI512(16, Z18, Z22, Z26); \
	TILEEPI512(24, Z19, Z23, Z27); \
	ADDQ $size, DX; \
	ADDQ $32, R8

#define TILESTORE512 \
	VMOVUPS Z24, (R10); \
	VMOVUPS Z25, 64(R10); \
	VMOVUPS Z26, 128(R10); \
	VMOVUPS Z27, 192(R10)

// func tile4AVX512(w *byte, sm *byte, tq *int8, td *float32, nb, steps int, out *float32)
TEXT ·tile4AVX512(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ sm+8(FP), DX
	MOVQ tq+16(FP), DI
	MOVQ td+24(FP), R8
	MOVQ nb+32(FP), CX
	MOVQ steps+40(FP), R9
	MOVQ out+48(FP), R10
	VPBROADCASTD nibbles512<>(SB), Z15
	TILEZERO512

w4block:
	MOVQ R9, R11

w4step:
	// The hot loop: one step (8 inputs × 16 rows) for 4 tokens.
	VMOVDQU64 (SI), Z0
	VPSRLW $4, Z0, Z1
	VPANDD Z15, Z0, Z0
	VPANDD Z15, Z1, Z1
	VPDPBUSD.BCST (DI), Z0, Z16
	VPDPBUSD.BCST 4(DI), Z0, Z17
	VPDPBUSD.BCST 8(DI), Z0, Z18
	VPDPBUSD.BCST 12(DI), Z0, Z19
	VPDPBUSD.BCST 16(DI), Z1, Z20
	VPDPBUSD.BCST 20(DI), Z1, Z21
	VPDPBUSD.BCST 24(DI), Z1, Z22
	VPDPBUSD.BCST 28(DI), Z1, Z23
	ADDQ $64, SI
	ADDQ $32, DI
	DECQ R11
	JNZ  w4step

	TILEEND512(META4, 48)
	DECQ CX
	JNZ  w4block
	TILESTORE512
	VZEROUPPER
	RET

// func tile8AVX512(w *byte, sm *byte, tq *int8, td *float32, nb, steps int, out *float32)
TEXT ·tile8AVX512(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ sm+8(FP), DX
	MOVQ tq+16(FP), DI
	MOVQ td+24(FP), R8
	MOVQ nb+32(FP), CX
	MOVQ steps+40(FP), R9
	MOVQ out+48(FP), R10
	TILEZERO512

w8block:
	MOVQ R9, R11

w8pair:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 64(SI), Z1
	VPDPBUSD.BCST (DI), Z0, Z16
	VPDPBUSD.BCST 4(DI), Z0, Z17
	VPDPBUSD.BCST 8(DI), Z0, Z18
	VPDPBUSD.BCST 12(DI), Z0, Z19
	VPDPBUSD.BCST 16(DI), Z1, Z20
	VPDPBUSD.BCST 20(DI), Z1, Z21
	VPDPBUSD.BCST 24(DI), Z1, Z22
	VPDPBUSD.BCST 28(DI), Z1, Z23
	ADDQ $128, SI
	ADDQ $32, DI
	SUBQ $2, R11
	JNZ  w8pair

	TILEEND512(META8, 64)
	DECQ CX
	JNZ  w8block
	TILESTORE512
	VZEROUPPER
	RET
