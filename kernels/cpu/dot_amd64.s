//go:build amd64 && !noasm

#include "textflag.h"

// The hot loops of the dense float path (AVX2 + FMA). Each has a pure-Go twin in dot_generic.go
// and is tested against it. Callers pass n as a positive multiple of the step noted.

// func dotF32AVX2(x, w *float32, n int) float32      (n % 32 == 0)
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
f32loop:
	VMOVUPS (DI), Y4
	VMOVUPS 32(DI), Y5
	VMOVUPS 64(DI), Y6
	VMOVUPS 96(DI), Y7
	VFMADD231PS (SI), Y4, Y0
	VFMADD231PS 32(SI), Y5, Y1
	VFMADD231PS 64(SI), Y6, Y2
	VFMADD231PS 96(SI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JNZ  f32loop
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotBF16AVX2(x *float32, w *uint16, n int) float32      (n % 32 == 0)
// A bfloat16 is the top half of a float32: zero-extend to 32 bits and shift left by 16.
TEXT ·dotBF16AVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
bf16loop:
	VPMOVZXWD (DI), Y4
	VPMOVZXWD 16(DI), Y5
	VPMOVZXWD 32(DI), Y6
	VPMOVZXWD 48(DI), Y7
	VPSLLD $16, Y4, Y4
	VPSLLD $16, Y5, Y5
	VPSLLD $16, Y6, Y6
	VPSLLD $16, Y7, Y7
	VFMADD231PS (SI), Y4, Y0
	VFMADD231PS 32(SI), Y5, Y1
	VFMADD231PS 64(SI), Y6, Y2
	VFMADD231PS 96(SI), Y7, Y3
	ADDQ $128, SI
	ADDQ $64, DI
	SUBQ $32, CX
	JNZ  bf16loop
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotF16AVX2(x *float32, w *uint16, n int) float32      (n % 32 == 0, needs F16C)
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
f16loop:
	VCVTPH2PS (DI), Y4
	VCVTPH2PS 16(DI), Y5
	VCVTPH2PS 32(DI), Y6
	VCVTPH2PS 48(DI), Y7
	VFMADD231PS (SI), Y4, Y0
	VFMADD231PS 32(SI), Y5, Y1
	VFMADD231PS 64(SI), Y6, Y2
	VFMADD231PS 96(SI), Y7, Y3
	ADDQ $128, SI
	ADDQ $64, DI
	SUBQ $32, CX
	JNZ  f16loop
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dot2x4F32AVX2(x0, x1, w *float32, ldw, n int, out *[8]float32)      (n % 8 == 0)
// The prompt-processing micro-kernel: two activation rows against four weight rows (w, w+ldw,
// w+2ldw, w+3ldw), eight independent accumulators, six loads per eight FMAs.
// out[0:4] = x0·w_j, out[4:8] = x1·w_j.
TEXT ·dot2x4F32AVX2(SB), NOSPLIT, $0-48
	MOVQ x0+0(FP), SI
	MOVQ x1+8(FP), BX
	MOVQ w+16(FP), DI
	MOVQ ldw+24(FP), DX
	MOVQ n+32(FP), CX
	SHLQ $2, DX
	LEAQ (DI)(DX*1), R8
	LEAQ (R8)(DX*1), R9
	LEAQ (R9)(DX*1), R10
	XORQ AX, AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
mkloop:
	VMOVUPS (SI)(AX*4), Y12
	VMOVUPS (BX)(AX*4), Y13
	VMOVUPS (DI)(AX*4), Y8
	VFMADD231PS Y8, Y12, Y0
	VFMADD231PS Y8, Y13, Y4
	VMOVUPS (R8)(AX*4), Y9
	VFMADD231PS Y9, Y12, Y1
	VFMADD231PS Y9, Y13, Y5
	VMOVUPS (R9)(AX*4), Y10
	VFMADD231PS Y10, Y12, Y2
	VFMADD231PS Y10, Y13, Y6
	VMOVUPS (R10)(AX*4), Y11
	VFMADD231PS Y11, Y12, Y3
	VFMADD231PS Y11, Y13, Y7
	ADDQ $8, AX
	CMPQ AX, CX
	JLT  mkloop
	MOVQ out+40(FP), DX
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVUPS X0, (DX)
	VHADDPS Y5, Y4, Y4
	VHADDPS Y7, Y6, Y6
	VHADDPS Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPS X5, X4, X4
	VMOVUPS X4, 16(DX)
	VZEROUPPER
	RET

// func axpyAVX2(y *float32, a float32, x *float32, n int)      (n % 16 == 0)
// y += a·x: attention's weighted sum of values.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	VBROADCASTSS a+8(FP), Y0
	MOVQ x+16(FP), SI
	MOVQ n+24(FP), CX
axpyloop:
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	VFMADD213PS (DI), Y0, Y1
	VFMADD213PS 32(DI), Y0, Y2
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ  axpyloop
	VZEROUPPER
	RET

// func dot1x4F32AVX2(x, w *float32, ldw, n int, out *[4]float32)      (n % 8 == 0)
// out[j] = x·w_j for the four rows w + j·ldw: attention scores of one query against four
// cached keys.
TEXT ·dot1x4F32AVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ ldw+16(FP), DX
	MOVQ n+24(FP), CX
	SHLQ $2, DX
	LEAQ (DI)(DX*1), R8
	LEAQ (R8)(DX*1), R9
	LEAQ (R9)(DX*1), R10
	XORQ AX, AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
d14loop:
	VMOVUPS (SI)(AX*4), Y8
	VFMADD231PS (DI)(AX*4), Y8, Y0
	VFMADD231PS (R8)(AX*4), Y8, Y1
	VFMADD231PS (R9)(AX*4), Y8, Y2
	VFMADD231PS (R10)(AX*4), Y8, Y3
	ADDQ $8, AX
	CMPQ AX, CX
	JLT  d14loop
	MOVQ out+32(FP), DX
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVUPS X0, (DX)
	VZEROUPPER
	RET

// func axpyRowsAVX2(y, a, x *float32, rows, ldx, n int)      (n % 16 == 0, n > 0, rows > 0)
// y[p] = Σ_r a[r]·x[r·ldx + p] for p < n, summed r = 0, 1, ... with one FMA each from 0: what
// clearing y and calling axpyAVX2 once per row gives, bit for bit, with y read and written once.
TEXT ·axpyRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ a+8(FP), R8
	MOVQ x+16(FP), SI
	MOVQ rows+24(FP), R9
	MOVQ ldx+32(FP), DX
	MOVQ n+40(FP), CX
	SHLQ $2, DX
arowsloop:
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	MOVQ SI, R10
	MOVQ R8, R11
	MOVQ R9, BX
arowsinner:
	VBROADCASTSS (R11), Y0
	VFMADD231PS (R10), Y0, Y1
	VFMADD231PS 32(R10), Y0, Y2
	ADDQ DX, R10
	ADDQ $4, R11
	DECQ BX
	JNZ  arowsinner
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ  arowsloop
	VZEROUPPER
	RET

// func subOuterAVX2(y *float32, ldy int, a *float32, na int, x *float32, n int)      (n % 16 == 0, n > 0, na > 0)
// y[j·ldy + p] −= a[j]·x[p] for j < na, p < n, one FMA each: what axpyAVX2 with −a[j] gives
// (GPTQ's within-block error feedback, a rank-1 update). x is held 32 values at a time in four
// registers (then 16 in two) while the rows j go by.
TEXT ·subOuterAVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ ldy+8(FP), DX
	SHLQ $2, DX
	MOVQ x+32(FP), SI
	MOVQ n+40(FP), CX
souterwide:
	// 32 values of x at a time in four registers: each row of y is then one pass over 128
	// contiguous bytes (with 16 at a time the tile was walked twice as often, row stride apart)
	CMPQ CX, $32
	JLT  souterchunk
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y5
	VMOVUPS 96(SI), Y6
	MOVQ a+16(FP), R8
	MOVQ na+24(FP), R9
	MOVQ DI, R10
souterwrow:
	VBROADCASTSS (R8), Y2
	VMOVUPS (R10), Y3
	VMOVUPS 32(R10), Y4
	VMOVUPS 64(R10), Y7
	VMOVUPS 96(R10), Y8
	VFNMADD231PS Y2, Y0, Y3
	VFNMADD231PS Y2, Y1, Y4
	VFNMADD231PS Y2, Y5, Y7
	VFNMADD231PS Y2, Y6, Y8
	VMOVUPS Y3, (R10)
	VMOVUPS Y4, 32(R10)
	VMOVUPS Y7, 64(R10)
	VMOVUPS Y8, 96(R10)
	ADDQ $4, R8
	ADDQ DX, R10
	DECQ R9
	JNZ  souterwrow
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  souterwide
souterchunk:
	TESTQ CX, CX
	JZ   souterdone
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	MOVQ a+16(FP), R8
	MOVQ na+24(FP), R9
	MOVQ DI, R10
souterrow:
	VBROADCASTSS (R8), Y2
	VMOVUPS (R10), Y3
	VMOVUPS 32(R10), Y4
	VFNMADD231PS Y2, Y0, Y3
	VFNMADD231PS Y2, Y1, Y4
	VMOVUPS Y3, (R10)
	VMOVUPS Y4, 32(R10)
	ADDQ $4, R8
	ADDQ DX, R10
	DECQ R9
	JNZ  souterrow
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  souterchunk
souterdone:
	VZEROUPPER
	RET

// func subOuterAVX512(y *float32, ldy int, a *float32, na int, x *float32, n int)      (n % 16 == 0, n > 0, na > 0)
// subOuterAVX2 with one 16-lane register for each 16 values of x, 64 at a time.
TEXT ·subOuterAVX512(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ ldy+8(FP), DX
	SHLQ $2, DX
	MOVQ x+32(FP), SI
	MOVQ n+40(FP), CX
souter5wide:
	CMPQ CX, $64
	JLT  souter5chunk
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS 128(SI), Z4
	VMOVUPS 192(SI), Z5
	MOVQ a+16(FP), R8
	MOVQ na+24(FP), R9
	MOVQ DI, R10
souter5wrow:
	VBROADCASTSS (R8), Z2
	VMOVUPS (R10), Z3
	VMOVUPS 64(R10), Z6
	VMOVUPS 128(R10), Z7
	VMOVUPS 192(R10), Z8
	VFNMADD231PS Z2, Z0, Z3
	VFNMADD231PS Z2, Z1, Z6
	VFNMADD231PS Z2, Z4, Z7
	VFNMADD231PS Z2, Z5, Z8
	VMOVUPS Z3, (R10)
	VMOVUPS Z6, 64(R10)
	VMOVUPS Z7, 128(R10)
	VMOVUPS Z8, 192(R10)
	ADDQ $4, R8
	ADDQ DX, R10
	DECQ R9
	JNZ  souter5wrow
	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $64, CX
	JMP  souter5wide
souter5chunk:
	TESTQ CX, CX
	JZ   souter5done
	VMOVUPS (SI), Z0
	MOVQ a+16(FP), R8
	MOVQ na+24(FP), R9
	MOVQ DI, R10
souter5row:
	VBROADCASTSS (R8), Z2
	VMOVUPS (R10), Z3
	VFNMADD231PS Z2, Z0, Z3
	VMOVUPS Z3, (R10)
	ADDQ $4, R8
	ADDQ DX, R10
	DECQ R9
	JNZ  souter5row
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  souter5chunk
souter5done:
	VZEROUPPER
	RET

// func gridErrAVX2(codes *uint8, e *float32, loss *float64, w *float32, scale, zero *float64, n int, maxq, d float64)   (n % 4 == 0, n > 0)
// GridErrF32 four rows at a time, in float64: the same operations as gridErrGo in its order
// (a division, round to nearest even, clamp, a product and a difference, a division), so the
// same bits. The codes are packed to bytes through 32- and 16-bit saturating packs.
TEXT ·gridErrAVX2(SB), NOSPLIT, $0-72
	MOVQ codes+0(FP), DI
	MOVQ e+8(FP), R8
	MOVQ loss+16(FP), R9
	MOVQ w+24(FP), SI
	MOVQ scale+32(FP), R10
	MOVQ zero+40(FP), R11
	MOVQ n+48(FP), CX
	VBROADCASTSD maxq+56(FP), Y13
	VBROADCASTSD d+64(FP), Y14
	VXORPD Y12, Y12, Y12
	MOVQ $0x3fe0000000000000, AX // 0.5
	MOVQ AX, X15
	VBROADCASTSD X15, Y15
ge2loop:
	VCVTPS2PD (SI), Y0        // x
	VMOVUPD (R10), Y1         // scale
	VMOVUPD (R11), Y3         // zero
	VDIVPD Y1, Y0, Y2
	VROUNDPD $8, Y2, Y2       // nearest even, no inexact exception
	VADDPD Y3, Y2, Y2
	VMAXPD Y12, Y2, Y2
	VMINPD Y13, Y2, Y2        // q
	VCVTPD2DQY Y2, X4
	VPACKUSDW X4, X4, X4
	VPACKUSWB X4, X4, X4
	MOVL X4, AX
	MOVL AX, (DI)
	VSUBPD Y3, Y2, Y5         // q − zero
	VMULPD Y5, Y1, Y5         // scale·(q − zero)
	VSUBPD Y5, Y0, Y6         // x − that
	VDIVPD Y14, Y6, Y6        // e
	VMULPD Y6, Y6, Y7
	VMULPD Y15, Y7, Y7        // e²/2
	VADDPD (R9), Y7, Y7
	VMOVUPD Y7, (R9)
	VCVTPD2PSY Y6, X8
	VMOVUPS X8, (R8)
	ADDQ $4, DI
	ADDQ $16, R8
	ADDQ $32, R9
	ADDQ $16, SI
	ADDQ $32, R10
	ADDQ $32, R11
	SUBQ $4, CX
	JNZ  ge2loop
	VZEROUPPER
	RET

// func gridErrAVX512(codes *uint8, e *float32, loss *float64, w *float32, scale, zero *float64, n int, maxq, d float64)   (n % 8 == 0, n > 0)
// gridErrAVX2 eight rows at a time.
TEXT ·gridErrAVX512(SB), NOSPLIT, $0-72
	MOVQ codes+0(FP), DI
	MOVQ e+8(FP), R8
	MOVQ loss+16(FP), R9
	MOVQ w+24(FP), SI
	MOVQ scale+32(FP), R10
	MOVQ zero+40(FP), R11
	MOVQ n+48(FP), CX
	VBROADCASTSD maxq+56(FP), Z13
	VBROADCASTSD d+64(FP), Z14
	VXORPD Z12, Z12, Z12
	MOVQ $0x3fe0000000000000, AX // 0.5
	MOVQ AX, X15
	VBROADCASTSD X15, Z15
ge5loop:
	VCVTPS2PD (SI), Z0
	VMOVUPD (R10), Z1
	VMOVUPD (R11), Z3
	VDIVPD Z1, Z0, Z2
	VRNDSCALEPD $8, Z2, Z2
	VADDPD Z3, Z2, Z2
	VMAXPD Z12, Z2, Z2
	VMINPD Z13, Z2, Z2
	VCVTPD2DQ Z2, Y4
	VPMOVDB Y4, X4
	MOVQ X4, (DI)
	VSUBPD Z3, Z2, Z5
	VMULPD Z5, Z1, Z5
	VSUBPD Z5, Z0, Z6
	VDIVPD Z14, Z6, Z6
	VMULPD Z6, Z6, Z7
	VMULPD Z15, Z7, Z7
	VADDPD (R9), Z7, Z7
	VMOVUPD Z7, (R9)
	VCVTPD2PS Z6, Y8
	VMOVUPS Y8, (R8)
	ADDQ $8, DI
	ADDQ $32, R8
	ADDQ $64, R9
	ADDQ $32, SI
	ADDQ $64, R10
	ADDQ $64, R11
	SUBQ $8, CX
	JNZ  ge5loop
	VZEROUPPER
	RET

// func transpose8AVX(dst *float32, ldd int, src *float32, lds int, blocks int)   (blocks > 0)
// Eight rows of src, blocks×8 columns, into eight columns of dst, 8×8 at a time: the rows are
// interleaved in pairs (VUNPCKLPS/HPS), then in fours (VSHUFPS), then their 128-bit halves
// recombined (VPERM2F128), giving the block's columns.
TEXT ·transpose8AVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R9
	SHLQ $2, R9
	MOVQ blocks+32(FP), CX
	LEAQ (R9)(R9*2), R10      // 3·lds
	LEAQ (R8)(R8*2), R11      // 3·ldd
tr8loop:
	MOVQ SI, AX
	VMOVUPS (AX), Y0
	VMOVUPS (AX)(R9*1), Y1
	VMOVUPS (AX)(R9*2), Y2
	VMOVUPS (AX)(R10*1), Y3
	LEAQ (AX)(R9*4), AX
	VMOVUPS (AX), Y4
	VMOVUPS (AX)(R9*1), Y5
	VMOVUPS (AX)(R9*2), Y6
	VMOVUPS (AX)(R10*1), Y7
	VUNPCKLPS Y1, Y0, Y8      // a0 b0 a1 b1 | a4 b4 a5 b5
	VUNPCKHPS Y1, Y0, Y9      // a2 b2 a3 b3 | a6 b6 a7 b7
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0   // a0 b0 c0 d0 | a4 b4 c4 d4
	VSHUFPS $0xEE, Y10, Y8, Y1   // a1 b1 c1 d1 | a5 ...
	VSHUFPS $0x44, Y11, Y9, Y2   // a2 ... | a6 ...
	VSHUFPS $0xEE, Y11, Y9, Y3   // a3 ... | a7 ...
	VSHUFPS $0x44, Y14, Y12, Y4  // e0 f0 g0 h0 | e4 ...
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8   // column 0
	VPERM2F128 $0x20, Y5, Y1, Y9   // column 1
	VPERM2F128 $0x20, Y6, Y2, Y10  // column 2
	VPERM2F128 $0x20, Y7, Y3, Y11  // column 3
	VPERM2F128 $0x31, Y4, Y0, Y12  // column 4
	VPERM2F128 $0x31, Y5, Y1, Y13  // column 5
	VPERM2F128 $0x31, Y6, Y2, Y14  // column 6
	VPERM2F128 $0x31, Y7, Y3, Y15  // column 7
	MOVQ DI, BX
	VMOVUPS Y8, (BX)
	VMOVUPS Y9, (BX)(R8*1)
	VMOVUPS Y10, (BX)(R8*2)
	VMOVUPS Y11, (BX)(R11*1)
	LEAQ (BX)(R8*4), BX
	VMOVUPS Y12, (BX)
	VMOVUPS Y13, (BX)(R8*1)
	VMOVUPS Y14, (BX)(R8*2)
	VMOVUPS Y15, (BX)(R11*1)
	ADDQ $32, SI
	LEAQ (DI)(R8*8), DI
	DECQ CX
	JNZ  tr8loop
	VZEROUPPER
	RET
