//go:build !noasm && !purego

#include "textflag.h"

// AVX2 kernels (VPMADDUBSW: unsigned codes × signed activations → int16 pairs, VPMADDWD → int32).
// One row block = 16 rows = two ymm halves: rows 0-7 in the low 32 bytes of each 64-byte step,
// rows 8-15 in the high 32. Pair sums are at most 2·15·127 = 3810 (4-bit) in magnitude, so two
// steps of low+high nibble products (4·3810 = 15240) fit in int16 before widening.
//
// Arguments: w+0 sm+8 xq+16 xd+24 nb+32 steps+40 out+48
// SI w, DX sm, DI activations, R8 (d, xsum) per block, CX blocks left, R9 steps, R11 steps left,
// R10 out.

DATA nibbles<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbles<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbles<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA nibbles<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL nibbles<>(SB), RODATA|NOPTR, $32

DATA ones16<>+0(SB)/8, $0x0001000100010001
DATA ones16<>+8(SB)/8, $0x0001000100010001
DATA ones16<>+16(SB)/8, $0x0001000100010001
DATA ones16<>+24(SB)/8, $0x0001000100010001
GLOBL ones16<>(SB), RODATA|NOPTR, $32

DATA signbits<>+0(SB)/8, $0x8080808080808080
DATA signbits<>+8(SB)/8, $0x8080808080808080
DATA signbits<>+16(SB)/8, $0x8080808080808080
DATA signbits<>+24(SB)/8, $0x8080808080808080
GLOBL signbits<>(SB), RODATA|NOPTR, $32

DATA f128<>+0(SB)/4, $128.0
GLOBL f128<>(SB), RODATA|NOPTR, $4

// PFD: how far ahead the 4-bit and 8-bit loops prefetch their codes (PFD2: the next line). At 1 KiB
// decode ran about 10% slower with one or two threads (docs/BENCHMARKS.md, issue 13): the hardware
// prefetcher alone does not keep enough lines in flight for a memory-bound stream.
#define PFD 4096
#define PFD2 4160

#define LOADARGS \
	MOVQ w+0(FP), SI; \
	MOVQ sm+8(FP), DX; \
	MOVQ xq+16(FP), DI; \
	MOVQ xd+24(FP), R8; \
	MOVQ nb+32(FP), CX; \
	MOVQ steps+40(FP), R9; \
	MOVQ out+48(FP), R10

// UNPACK: the 64 bytes at off(SI) → low nibbles Y0 (rows 0-7), Y1 (rows 8-15), high nibbles Y4, Y5.
#define UNPACK(off) \
	VMOVDQU off(SI), Y0; \
	VMOVDQU (off+32)(SI), Y1; \
	VPSRLW $4, Y0, Y4; \
	VPSRLW $4, Y1, Y5; \
	VPAND Y15, Y0, Y0; \
	VPAND Y15, Y1, Y1; \
	VPAND Y15, Y4, Y4; \
	VPAND Y15, Y5, Y5

// Metadata records (q.go): 16 fp16 scales, then 16 zeros, uint8 for 4-bit codes (48 bytes) and
// uint16 for 8-bit codes (64 bytes). META4/META8: s of rows 0-7 → s0, rows 8-15 → s1, and s·z
// (exact in float32) → m0, m1. F16C converts the scales.
#define META4(s0, s1, m0, m1) \
	VCVTPH2PS (DX), s0; \
	VCVTPH2PS 16(DX), s1; \
	VPMOVZXBD 32(DX), m0; \
	VPMOVZXBD 40(DX), m1; \
	VCVTDQ2PS m0, m0; \
	VCVTDQ2PS m1, m1; \
	VMULPS s0, m0, m0; \
	VMULPS s1, m1, m1

#define META8(s0, s1, m0, m1) \
	VCVTPH2PS (DX), s0; \
	VCVTPH2PS 16(DX), s1; \
	VPMOVZXWD 32(DX), m0; \
	VPMOVZXWD 48(DX), m1; \
	VCVTDQ2PS m0, m0; \
	VCVTDQ2PS m1, m1; \
	VMULPS s0, m0, m0; \
	VMULPS s1, m1, m1

// EPILOGUE: acc(float) += float(isum)·d·s − (s·z)·xsum for one half; d in Y2, xsum in Y3, s in
// sreg, s·z in mreg.
#define EPILOGUE(isum, acc, sreg, mreg) \
	VCVTDQ2PS isum, isum; \
	VMULPS Y2, isum, isum; \
	VFMADD231PS sreg, isum, acc; \
	VFNMADD231PS mreg, Y3, acc

// func dot4AVX2(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)
TEXT ·dot4AVX2(SB), NOSPLIT, $0-56
	LOADARGS
	VMOVDQU nibbles<>(SB), Y15
	VMOVDQU ones16<>(SB), Y14
	VPXOR Y12, Y12, Y12
	VPXOR Y13, Y13, Y13

d4block:
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11
	MOVQ R9, R11
	CMPQ R11, $2
	JL   d4single

d4pair:
	// The hot loop: two steps (16 inputs × 16 rows), int16 sums widened once.
	PREFETCHT0 PFD(SI) // the hardware prefetcher alone falls behind on one core
	PREFETCHT0 PFD2(SI)
	UNPACK(0)
	VPBROADCASTD (DI), Y2
	VPBROADCASTD 4(DI), Y3
	VPMADDUBSW Y2, Y0, Y6
	VPMADDUBSW Y3, Y4, Y4
	VPMADDUBSW Y2, Y1, Y7
	VPMADDUBSW Y3, Y5, Y5
	VPADDW Y4, Y6, Y6
	VPADDW Y5, Y7, Y7
	UNPACK(64)
	VPBROADCASTD 8(DI), Y2
	VPBROADCASTD 12(DI), Y3
	VPMADDUBSW Y2, Y0, Y0
	VPMADDUBSW Y3, Y4, Y4
	VPMADDUBSW Y2, Y1, Y1
	VPMADDUBSW Y3, Y5, Y5
	VPADDW Y0, Y6, Y6
	VPADDW Y4, Y6, Y6
	VPADDW Y1, Y7, Y7
	VPADDW Y5, Y7, Y7
	VPMADDWD Y14, Y6, Y6
	VPMADDWD Y14, Y7, Y7
	VPADDD Y6, Y10, Y10
	VPADDD Y7, Y11, Y11
	ADDQ $128, SI
	ADDQ $16, DI
	SUBQ $2, R11
	CMPQ R11, $2
	JGE  d4pair

d4single:
	TESTQ R11, R11
	JZ    d4epi
	UNPACK(0)
	VPBROADCASTD (DI), Y2
	VPBROADCASTD 4(DI), Y3
	VPMADDUBSW Y2, Y0, Y0
	VPMADDUBSW Y3, Y4, Y4
	VPMADDUBSW Y2, Y1, Y1
	VPMADDUBSW Y3, Y5, Y5
	VPADDW Y4, Y0, Y0
	VPADDW Y5, Y1, Y1
	VPMADDWD Y14, Y0, Y0
	VPMADDWD Y14, Y1, Y1
	VPADDD Y0, Y10, Y10
	VPADDD Y1, Y11, Y11
	ADDQ $64, SI
	ADDQ $8, DI

d4epi:
	VBROADCASTSS (R8), Y2
	VBROADCASTSS 4(R8), Y3
	META4(Y4, Y5, Y6, Y7)
	EPILOGUE(Y10, Y12, Y4, Y6)
	EPILOGUE(Y11, Y13, Y5, Y7)
	ADDQ $48, DX
	ADDQ $8, R8
	DECQ CX
	JNZ  d4block

	VMOVUPS Y12, (R10)
	VMOVUPS Y13, 32(R10)
	VZEROUPPER
	RET

// func dot8AVX2(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)
// 8-bit codes c are flipped to signed c' = c−128 (a full unsigned byte × int8 could saturate
// VPMADDUBSW's int16); |c'| × sign(x, c') keeps each pair sum within 2·128·127 = 32512. Then
// Σc·x = Σc'·x + 128·Σx, so the zero term is s·(z−128): 128·s·xsum is added back per block.
TEXT ·dot8AVX2(SB), NOSPLIT, $0-56
	LOADARGS
	VMOVDQU signbits<>(SB), Y15
	VMOVDQU ones16<>(SB), Y14
	VPXOR Y12, Y12, Y12
	VPXOR Y13, Y13, Y13

d8block:
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11
	MOVQ R9, R11

d8step:
	PREFETCHT0 PFD(SI)
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1
	VPBROADCASTD (DI), Y2
	VPXOR Y15, Y0, Y0
	VPXOR Y15, Y1, Y1
	VPSIGNB Y0, Y2, Y3
	VPSIGNB Y1, Y2, Y4
	VPABSB Y0, Y0
	VPABSB Y1, Y1
	VPMADDUBSW Y3, Y0, Y0
	VPMADDUBSW Y4, Y1, Y1
	VPMADDWD Y14, Y0, Y0
	VPMADDWD Y14, Y1, Y1
	VPADDD Y0, Y10, Y10
	VPADDD Y1, Y11, Y11
	ADDQ $64, SI
	ADDQ $4, DI
	DECQ R11
	JNZ  d8step

	VBROADCASTSS (R8), Y2
	VBROADCASTSS 4(R8), Y3
	META8(Y4, Y5, Y6, Y7)
	VBROADCASTSS f128<>(SB), Y8
	VMULPS Y3, Y8, Y8
	VFMADD231PS Y4, Y8, Y12
	VFMADD231PS Y5, Y8, Y13
	EPILOGUE(Y10, Y12, Y4, Y6)
	EPILOGUE(Y11, Y13, Y5, Y7)
	ADDQ $64, DX
	ADDQ $8, R8
	DECQ CX
	JNZ  d8block

	VMOVUPS Y12, (R10)
	VMOVUPS Y13, 32(R10)
	VZEROUPPER
	RET

// Tile kernels: 4 tokens share each unpacked step. Int32 sums: token t rows 0-7 in Y(6+2t),
// rows 8-15 in Y(7+2t). Float sums live in out (64 floats), updated once per block.
// Activations (tile layout): per 4 inputs, 4 tokens × 4 bytes; per block, 4 × (d, xsum).

// TOK4: token t's contribution of one 4-bit step; lo/hi are its two activation words' offsets.
#define TOK4(lo, hi, accA, accB) \
	VPBROADCASTD lo(DI), Y14; \
	VPBROADCASTD hi(DI), Y3; \
	VPMADDUBSW Y14, Y0, Y2; \
	VPMADDUBSW Y3, Y4, Y15; \
	VPADDW Y15, Y2, Y2; \
	VPMADDWD ones16<>(SB), Y2, Y2; \
	VPADDD Y2, accA, accA; \
	VPMADDUBSW Y14, Y1, Y2; \
	VPMADDUBSW Y3, Y5, Y15; \
	VPADDW Y15, Y2, Y2; \
	VPMADDWD ones16<>(SB), Y2, Y2; \
	VPADDD Y2, accB, accB

// UNPACKM: UNPACK with the nibble mask from memory (Y15 is a temporary in the tile kernels).
#define UNPACKM \
	VMOVDQU (SI), Y0; \
	VMOVDQU 32(SI), Y1; \
	VPSRLW $4, Y0, Y4; \
	VPSRLW $4, Y1, Y5; \
	VPAND nibbles<>(SB), Y0, Y0; \
	VPAND nibbles<>(SB), Y1, Y1; \
	VPAND nibbles<>(SB), Y4, Y4; \
	VPAND nibbles<>(SB), Y5, Y5

// TILEEPI: token t's block epilogue into out[t]; doff = 8t, ooff = 64t; s in Y4 (rows 0-7) and
// Y5 (8-15), s·z in Y14 and Y15.
#define TILEEPI(doff, ooff, accA, accB) \
	VBROADCASTSS doff(R8), Y0; \
	VBROADCASTSS (doff+4)(R8), Y1; \
	VCVTDQ2PS accA, accA; \
	VMULPS Y0, accA, accA; \
	VMOVUPS ooff(R10), Y2; \
	VFMADD231PS Y4, accA, Y2; \
	VFNMADD231PS Y14, Y1, Y2; \
	VMOVUPS Y2, ooff(R10); \
	VCVTDQ2PS accB, accB; \
	VMULPS Y0, accB, accB; \
	VMOVUPS (ooff+32)(R10), Y2; \
	VFMADD231PS Y5, accB, Y2; \
	VFNMADD231PS Y15, Y1, Y2; \
	VMOVUPS Y2, (ooff+32)(R10); \
	VPXOR accA, accA, accA; \
	VPXOR accB, accB, accB

#define ZEROTILE \
	VPXOR Y2, Y2, Y2; \
	VMOVUPS Y2, (R10); \
	VMOVUPS Y2, 32(R10); \
	VMOVUPS Y2, 64(R10); \
	VMOVUPS Y2, 96(R10); \
	VMOVUPS Y2, 128(R10); \
	VMOVUPS Y2, 160(R10); \
	VMOVUPS Y2, 192(R10); \
	VMOVUPS Y2, 224(R10); \
	VPXOR Y6, Y6, Y6; \
	VPXOR Y7, Y7, Y7; \
	VPXOR Y8, Y8, Y8; \
	VPXOR Y9, Y9, Y9; \
	VPXOR Y10, Y10, Y10; \
	VPXOR Y11, Y11, Y11; \
	VPXOR Y12, Y12, Y12; \
	VPXOR Y13, Y13, Y13

// TILEBLOCKEND: the four tokens' epilogues (the record already in Y4, Y5, Y14, Y15), then the
// next block's record (size bytes) and activation scales.
#define TILEBLOCKEND(size) \
	TILEEPI(0, 0, Y6, Y7); \
	TILEEPI(8, 64, Y8, Y9); \
	TILEEPI(16, 128, Y10, Y11); \
	TILEEPI(24, 192, Y12, Y13); \
	ADDQ $size, DX; \
	ADDQ $32, R8

// func tile4AVX2(w *byte, sm *byte, tq *int8, td *float32, nb, steps int, out *float32)
TEXT ·tile4AVX2(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ sm+8(FP), DX
	MOVQ tq+16(FP), DI
	MOVQ td+24(FP), R8
	MOVQ nb+32(FP), CX
	MOVQ steps+40(FP), R9
	MOVQ out+48(FP), R10
	ZEROTILE

t4block:
	MOVQ R9, R11

t4step:
	// The hot loop: one step (8 inputs × 16 rows) for 4 tokens.
	UNPACKM
	TOK4(0, 16, Y6, Y7)
	TOK4(4, 20, Y8, Y9)
	TOK4(8, 24, Y10, Y11)
	TOK4(12, 28, Y12, Y13)
	ADDQ $64, SI
	ADDQ $32, DI
	DECQ R11
	JNZ  t4step

	META4(Y4, Y5, Y14, Y15)
	TILEBLOCKEND(48)
	DECQ CX
	JNZ  t4block
	VZEROUPPER
	RET

// TOK8: token t's contribution of one 8-bit step (codes flipped as in dot8AVX2): Y0/Y1 hold
// c' (rows 0-7 / 8-15), Y4/Y5 their absolute values.
#define TOK8(x, accA, accB) \
	VPBROADCASTD x(DI), Y14; \
	VPSIGNB Y0, Y14, Y2; \
	VPSIGNB Y1, Y14, Y3; \
	VPMADDUBSW Y2, Y4, Y2; \
	VPMADDUBSW Y3, Y5, Y3; \
	VPMADDWD ones16<>(SB), Y2, Y2; \
	VPMADDWD ones16<>(SB), Y3, Y3; \
	VPADDD Y2, accA, accA; \
	VPADDD Y3, accB, accB

// FIX128: out[t] += 128·s·xsum_t for the four tokens (the flipped codes' zero shift); s in Y4, Y5.
#define FIX128(doff, ooff) \
	VBROADCASTSS doff(R8), Y1; \
	VMULPS Y0, Y1, Y1; \
	VMOVUPS ooff(R10), Y2; \
	VFMADD231PS Y4, Y1, Y2; \
	VMOVUPS Y2, ooff(R10); \
	VMOVUPS (ooff+32)(R10), Y2; \
	VFMADD231PS Y5, Y1, Y2; \
	VMOVUPS Y2, (ooff+32)(R10)

// func tile8AVX2(w *byte, sm *byte, tq *int8, td *float32, nb, steps int, out *float32)
TEXT ·tile8AVX2(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ sm+8(FP), DX
	MOVQ tq+16(FP), DI
	MOVQ td+24(FP), R8
	MOVQ nb+32(FP), CX
	MOVQ steps+40(FP), R9
	MOVQ out+48(FP), R10
	ZEROTILE

t8block:
	MOVQ R9, R11

t8step:
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1
	VPXOR signbits<>(SB), Y0, Y0
	VPXOR signbits<>(SB), Y1, Y1
	VPABSB Y0, Y4
	VPABSB Y1, Y5
	TOK8(0, Y6, Y7)
	TOK8(4, Y8, Y9)
	TOK8(8, Y10, Y11)
	TOK8(12, Y12, Y13)
	ADDQ $64, SI
	ADDQ $16, DI
	DECQ R11
	JNZ  t8step

	META8(Y4, Y5, Y14, Y15)
	VBROADCASTSS f128<>(SB), Y0
	FIX128(4, 0)
	FIX128(12, 64)
	FIX128(20, 128)
	FIX128(28, 192)
	TILEBLOCKEND(64)
	DECQ CX
	JNZ  t8block
	VZEROUPPER
	RET
