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

// GRIDSTEP512 rounds the eight values in Z0 onto their grids (scale Z1, zero Z3; Z12 = 0,
// Z13 = maxq, Z14 = d): stores their codes at DI and leaves the grid points in Z5 and the errors
// (x − v)/d in Z6. Z2 and Y4 are clobbered.
#define GRIDSTEP512 \
	VDIVPD Z1, Z0, Z2 \
	VRNDSCALEPD $8, Z2, Z2 \
	VADDPD Z3, Z2, Z2 \
	VMAXPD Z12, Z2, Z2 \
	VMINPD Z13, Z2, Z2 \
	VCVTPD2DQ Z2, Y4 \
	VPMOVDB Y4, X4 \
	MOVQ X4, (DI) \
	VSUBPD Z3, Z2, Z5 \
	VMULPD Z5, Z1, Z5 \
	VSUBPD Z5, Z0, Z6 \
	VDIVPD Z14, Z6, Z6

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
	GRIDSTEP512
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

// TRANSPOSE8STORE transposes the 8×8 float32 block in Y0-Y7 (one row each) and stores its
// columns at DI, DI+ldd, …, DI+7·ldd (R8 = ldd in bytes, R11 = 3·ldd): unpack pairs of rows,
// shuffle pairs of pairs, recombine the 128-bit halves. Y8-Y15 end holding the columns; Y0-Y7
// and BX are clobbered.
#define TRANSPOSE8STORE \
	VUNPCKLPS Y1, Y0, Y8 \
	VUNPCKHPS Y1, Y0, Y9 \
	VUNPCKLPS Y3, Y2, Y10 \
	VUNPCKHPS Y3, Y2, Y11 \
	VUNPCKLPS Y5, Y4, Y12 \
	VUNPCKHPS Y5, Y4, Y13 \
	VUNPCKLPS Y7, Y6, Y14 \
	VUNPCKHPS Y7, Y6, Y15 \
	VSHUFPS $0x44, Y10, Y8, Y0 \
	VSHUFPS $0xEE, Y10, Y8, Y1 \
	VSHUFPS $0x44, Y11, Y9, Y2 \
	VSHUFPS $0xEE, Y11, Y9, Y3 \
	VSHUFPS $0x44, Y14, Y12, Y4 \
	VSHUFPS $0xEE, Y14, Y12, Y5 \
	VSHUFPS $0x44, Y15, Y13, Y6 \
	VSHUFPS $0xEE, Y15, Y13, Y7 \
	VPERM2F128 $0x20, Y4, Y0, Y8 \
	VPERM2F128 $0x20, Y5, Y1, Y9 \
	VPERM2F128 $0x20, Y6, Y2, Y10 \
	VPERM2F128 $0x20, Y7, Y3, Y11 \
	VPERM2F128 $0x31, Y4, Y0, Y12 \
	VPERM2F128 $0x31, Y5, Y1, Y13 \
	VPERM2F128 $0x31, Y6, Y2, Y14 \
	VPERM2F128 $0x31, Y7, Y3, Y15 \
	MOVQ DI, BX \
	VMOVUPS Y8, (BX) \
	VMOVUPS Y9, (BX)(R8*1) \
	VMOVUPS Y10, (BX)(R8*2) \
	VMOVUPS Y11, (BX)(R11*1) \
	LEAQ (BX)(R8*4), BX \
	VMOVUPS Y12, (BX) \
	VMOVUPS Y13, (BX)(R8*1) \
	VMOVUPS Y14, (BX)(R8*2) \
	VMOVUPS Y15, (BX)(R11*1)

// CVTROW converts eight float64 at addr and addr+32 to float32 into y (its xmm half x); X8 is
// clobbered.
#define CVTROW(addr, addr2, x, y) \
	VCVTPD2PSY addr, x \
	VCVTPD2PSY addr2, X8 \
	VINSERTF128 $1, X8, y, y

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
	TRANSPOSE8STORE
	ADDQ $32, SI
	LEAQ (DI)(R8*8), DI
	DECQ CX
	JNZ  tr8loop
	VZEROUPPER
	RET

// func transpose8F64AVX(dst *float32, ldd int, src *float64, lds int, blocks int) (bad uint64)
// Eight rows of src, 8·blocks columns, converted to float32 and written transposed: each 8×8
// block's rows converted four at a time (VCVTPD2PSY) into a ymm, then transpose8AVX's shuffles.
// bad is nonzero when a converted value is not finite (x − x is +0 exactly for finite x only).
TEXT ·transpose8F64AVX(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ lds+24(FP), R9
	SHLQ $3, R9
	MOVQ blocks+32(FP), CX
	LEAQ (R9)(R9*2), R10      // 3·lds
	LEAQ (R8)(R8*2), R11      // 3·ldd
	XORQ DX, DX
trf8loop:
	MOVQ SI, AX
	CVTROW((AX), 32(AX), X0, Y0)
	CVTROW((AX)(R9*1), 32(AX)(R9*1), X1, Y1)
	CVTROW((AX)(R9*2), 32(AX)(R9*2), X2, Y2)
	CVTROW((AX)(R10*1), 32(AX)(R10*1), X3, Y3)
	LEAQ (AX)(R9*4), AX
	CVTROW((AX), 32(AX), X4, Y4)
	CVTROW((AX)(R9*1), 32(AX)(R9*1), X5, Y5)
	CVTROW((AX)(R9*2), 32(AX)(R9*2), X6, Y6)
	CVTROW((AX)(R10*1), 32(AX)(R10*1), X7, Y7)
	TRANSPOSE8STORE
	VSUBPS Y8, Y8, Y0
	VSUBPS Y9, Y9, Y1
	VSUBPS Y10, Y10, Y2
	VSUBPS Y11, Y11, Y3
	VSUBPS Y12, Y12, Y4
	VSUBPS Y13, Y13, Y5
	VSUBPS Y14, Y14, Y6
	VSUBPS Y15, Y15, Y7
	VORPS Y1, Y0, Y0
	VORPS Y3, Y2, Y2
	VORPS Y5, Y4, Y4
	VORPS Y7, Y6, Y6
	VORPS Y2, Y0, Y0
	VORPS Y6, Y4, Y4
	VORPS Y4, Y0, Y0
	XORQ BX, BX
	VPTEST Y0, Y0
	SETNE BX
	ORQ BX, DX
	ADDQ $64, SI
	LEAQ (DI)(R8*8), DI
	DECQ CX
	JNZ  trf8loop
	VZEROUPPER
	MOVQ DX, bad+40(FP)
	RET

// func subOuter16AVX512(y *float32, ldy int, aT *float32, x *float32, ldx int, cols int, chunks int)
// (cols % 8 == 0, cols > 0, chunks > 0)
// y[j·ldy + p] −= aT[16j + i]·x[i·ldx + p] for i = 0..15 in order, one fused multiply-add each,
// for j < cols and p < 16·chunks: SubOuterF32 sixteen times over, with the sixteen vectors of x
// held in Z16-Z31 per chunk of 16 values and eight columns' sums in flight (one column's
// sixteen dependent FMAs alone would wait on the latency).
TEXT ·subOuter16AVX512(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ ldy+8(FP), DX
	SHLQ $2, DX
	MOVQ x+24(FP), SI
	MOVQ ldx+32(FP), R9
	SHLQ $2, R9
	MOVQ chunks+48(FP), R11
so16chunk:
	MOVQ SI, AX
	VMOVUPS (AX), Z16
	ADDQ R9, AX
	VMOVUPS (AX), Z17
	ADDQ R9, AX
	VMOVUPS (AX), Z18
	ADDQ R9, AX
	VMOVUPS (AX), Z19
	ADDQ R9, AX
	VMOVUPS (AX), Z20
	ADDQ R9, AX
	VMOVUPS (AX), Z21
	ADDQ R9, AX
	VMOVUPS (AX), Z22
	ADDQ R9, AX
	VMOVUPS (AX), Z23
	ADDQ R9, AX
	VMOVUPS (AX), Z24
	ADDQ R9, AX
	VMOVUPS (AX), Z25
	ADDQ R9, AX
	VMOVUPS (AX), Z26
	ADDQ R9, AX
	VMOVUPS (AX), Z27
	ADDQ R9, AX
	VMOVUPS (AX), Z28
	ADDQ R9, AX
	VMOVUPS (AX), Z29
	ADDQ R9, AX
	VMOVUPS (AX), Z30
	ADDQ R9, AX
	VMOVUPS (AX), Z31
	MOVQ aT+16(FP), R8
	MOVQ cols+40(FP), CX
	MOVQ DI, R10
so16cols:
	MOVQ R10, BX
	VMOVUPS (BX), Z0
	ADDQ DX, BX
	VMOVUPS (BX), Z1
	ADDQ DX, BX
	VMOVUPS (BX), Z2
	ADDQ DX, BX
	VMOVUPS (BX), Z3
	ADDQ DX, BX
	VMOVUPS (BX), Z4
	ADDQ DX, BX
	VMOVUPS (BX), Z5
	ADDQ DX, BX
	VMOVUPS (BX), Z6
	ADDQ DX, BX
	VMOVUPS (BX), Z7
	VFNMADD231PS.BCST 0(R8), Z16, Z0
	VFNMADD231PS.BCST 64(R8), Z16, Z1
	VFNMADD231PS.BCST 128(R8), Z16, Z2
	VFNMADD231PS.BCST 192(R8), Z16, Z3
	VFNMADD231PS.BCST 256(R8), Z16, Z4
	VFNMADD231PS.BCST 320(R8), Z16, Z5
	VFNMADD231PS.BCST 384(R8), Z16, Z6
	VFNMADD231PS.BCST 448(R8), Z16, Z7
	VFNMADD231PS.BCST 4(R8), Z17, Z0
	VFNMADD231PS.BCST 68(R8), Z17, Z1
	VFNMADD231PS.BCST 132(R8), Z17, Z2
	VFNMADD231PS.BCST 196(R8), Z17, Z3
	VFNMADD231PS.BCST 260(R8), Z17, Z4
	VFNMADD231PS.BCST 324(R8), Z17, Z5
	VFNMADD231PS.BCST 388(R8), Z17, Z6
	VFNMADD231PS.BCST 452(R8), Z17, Z7
	VFNMADD231PS.BCST 8(R8), Z18, Z0
	VFNMADD231PS.BCST 72(R8), Z18, Z1
	VFNMADD231PS.BCST 136(R8), Z18, Z2
	VFNMADD231PS.BCST 200(R8), Z18, Z3
	VFNMADD231PS.BCST 264(R8), Z18, Z4
	VFNMADD231PS.BCST 328(R8), Z18, Z5
	VFNMADD231PS.BCST 392(R8), Z18, Z6
	VFNMADD231PS.BCST 456(R8), Z18, Z7
	VFNMADD231PS.BCST 12(R8), Z19, Z0
	VFNMADD231PS.BCST 76(R8), Z19, Z1
	VFNMADD231PS.BCST 140(R8), Z19, Z2
	VFNMADD231PS.BCST 204(R8), Z19, Z3
	VFNMADD231PS.BCST 268(R8), Z19, Z4
	VFNMADD231PS.BCST 332(R8), Z19, Z5
	VFNMADD231PS.BCST 396(R8), Z19, Z6
	VFNMADD231PS.BCST 460(R8), Z19, Z7
	VFNMADD231PS.BCST 16(R8), Z20, Z0
	VFNMADD231PS.BCST 80(R8), Z20, Z1
	VFNMADD231PS.BCST 144(R8), Z20, Z2
	VFNMADD231PS.BCST 208(R8), Z20, Z3
	VFNMADD231PS.BCST 272(R8), Z20, Z4
	VFNMADD231PS.BCST 336(R8), Z20, Z5
	VFNMADD231PS.BCST 400(R8), Z20, Z6
	VFNMADD231PS.BCST 464(R8), Z20, Z7
	VFNMADD231PS.BCST 20(R8), Z21, Z0
	VFNMADD231PS.BCST 84(R8), Z21, Z1
	VFNMADD231PS.BCST 148(R8), Z21, Z2
	VFNMADD231PS.BCST 212(R8), Z21, Z3
	VFNMADD231PS.BCST 276(R8), Z21, Z4
	VFNMADD231PS.BCST 340(R8), Z21, Z5
	VFNMADD231PS.BCST 404(R8), Z21, Z6
	VFNMADD231PS.BCST 468(R8), Z21, Z7
	VFNMADD231PS.BCST 24(R8), Z22, Z0
	VFNMADD231PS.BCST 88(R8), Z22, Z1
	VFNMADD231PS.BCST 152(R8), Z22, Z2
	VFNMADD231PS.BCST 216(R8), Z22, Z3
	VFNMADD231PS.BCST 280(R8), Z22, Z4
	VFNMADD231PS.BCST 344(R8), Z22, Z5
	VFNMADD231PS.BCST 408(R8), Z22, Z6
	VFNMADD231PS.BCST 472(R8), Z22, Z7
	VFNMADD231PS.BCST 28(R8), Z23, Z0
	VFNMADD231PS.BCST 92(R8), Z23, Z1
	VFNMADD231PS.BCST 156(R8), Z23, Z2
	VFNMADD231PS.BCST 220(R8), Z23, Z3
	VFNMADD231PS.BCST 284(R8), Z23, Z4
	VFNMADD231PS.BCST 348(R8), Z23, Z5
	VFNMADD231PS.BCST 412(R8), Z23, Z6
	VFNMADD231PS.BCST 476(R8), Z23, Z7
	VFNMADD231PS.BCST 32(R8), Z24, Z0
	VFNMADD231PS.BCST 96(R8), Z24, Z1
	VFNMADD231PS.BCST 160(R8), Z24, Z2
	VFNMADD231PS.BCST 224(R8), Z24, Z3
	VFNMADD231PS.BCST 288(R8), Z24, Z4
	VFNMADD231PS.BCST 352(R8), Z24, Z5
	VFNMADD231PS.BCST 416(R8), Z24, Z6
	VFNMADD231PS.BCST 480(R8), Z24, Z7
	VFNMADD231PS.BCST 36(R8), Z25, Z0
	VFNMADD231PS.BCST 100(R8), Z25, Z1
	VFNMADD231PS.BCST 164(R8), Z25, Z2
	VFNMADD231PS.BCST 228(R8), Z25, Z3
	VFNMADD231PS.BCST 292(R8), Z25, Z4
	VFNMADD231PS.BCST 356(R8), Z25, Z5
	VFNMADD231PS.BCST 420(R8), Z25, Z6
	VFNMADD231PS.BCST 484(R8), Z25, Z7
	VFNMADD231PS.BCST 40(R8), Z26, Z0
	VFNMADD231PS.BCST 104(R8), Z26, Z1
	VFNMADD231PS.BCST 168(R8), Z26, Z2
	VFNMADD231PS.BCST 232(R8), Z26, Z3
	VFNMADD231PS.BCST 296(R8), Z26, Z4
	VFNMADD231PS.BCST 360(R8), Z26, Z5
	VFNMADD231PS.BCST 424(R8), Z26, Z6
	VFNMADD231PS.BCST 488(R8), Z26, Z7
	VFNMADD231PS.BCST 44(R8), Z27, Z0
	VFNMADD231PS.BCST 108(R8), Z27, Z1
	VFNMADD231PS.BCST 172(R8), Z27, Z2
	VFNMADD231PS.BCST 236(R8), Z27, Z3
	VFNMADD231PS.BCST 300(R8), Z27, Z4
	VFNMADD231PS.BCST 364(R8), Z27, Z5
	VFNMADD231PS.BCST 428(R8), Z27, Z6
	VFNMADD231PS.BCST 492(R8), Z27, Z7
	VFNMADD231PS.BCST 48(R8), Z28, Z0
	VFNMADD231PS.BCST 112(R8), Z28, Z1
	VFNMADD231PS.BCST 176(R8), Z28, Z2
	VFNMADD231PS.BCST 240(R8), Z28, Z3
	VFNMADD231PS.BCST 304(R8), Z28, Z4
	VFNMADD231PS.BCST 368(R8), Z28, Z5
	VFNMADD231PS.BCST 432(R8), Z28, Z6
	VFNMADD231PS.BCST 496(R8), Z28, Z7
	VFNMADD231PS.BCST 52(R8), Z29, Z0
	VFNMADD231PS.BCST 116(R8), Z29, Z1
	VFNMADD231PS.BCST 180(R8), Z29, Z2
	VFNMADD231PS.BCST 244(R8), Z29, Z3
	VFNMADD231PS.BCST 308(R8), Z29, Z4
	VFNMADD231PS.BCST 372(R8), Z29, Z5
	VFNMADD231PS.BCST 436(R8), Z29, Z6
	VFNMADD231PS.BCST 500(R8), Z29, Z7
	VFNMADD231PS.BCST 56(R8), Z30, Z0
	VFNMADD231PS.BCST 120(R8), Z30, Z1
	VFNMADD231PS.BCST 184(R8), Z30, Z2
	VFNMADD231PS.BCST 248(R8), Z30, Z3
	VFNMADD231PS.BCST 312(R8), Z30, Z4
	VFNMADD231PS.BCST 376(R8), Z30, Z5
	VFNMADD231PS.BCST 440(R8), Z30, Z6
	VFNMADD231PS.BCST 504(R8), Z30, Z7
	VFNMADD231PS.BCST 60(R8), Z31, Z0
	VFNMADD231PS.BCST 124(R8), Z31, Z1
	VFNMADD231PS.BCST 188(R8), Z31, Z2
	VFNMADD231PS.BCST 252(R8), Z31, Z3
	VFNMADD231PS.BCST 316(R8), Z31, Z4
	VFNMADD231PS.BCST 380(R8), Z31, Z5
	VFNMADD231PS.BCST 444(R8), Z31, Z6
	VFNMADD231PS.BCST 508(R8), Z31, Z7
	MOVQ R10, BX
	VMOVUPS Z0, (BX)
	ADDQ DX, BX
	VMOVUPS Z1, (BX)
	ADDQ DX, BX
	VMOVUPS Z2, (BX)
	ADDQ DX, BX
	VMOVUPS Z3, (BX)
	ADDQ DX, BX
	VMOVUPS Z4, (BX)
	ADDQ DX, BX
	VMOVUPS Z5, (BX)
	ADDQ DX, BX
	VMOVUPS Z6, (BX)
	ADDQ DX, BX
	VMOVUPS Z7, (BX)
	LEAQ (R10)(DX*8), R10
	ADDQ $512, R8
	SUBQ $8, CX
	JNZ  so16cols
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ R11
	JNZ  so16chunk
	VZEROUPPER
	RET

// func subOuterF64AVX512(y *float64, ldy int, a *float64, na int, x *float64, n int)   (na > 0, n > 0)
// y[j·ldy + p] −= a[j]·x[p], the product rounded before the subtraction (VMULPD, VSUBPD: the bits
// of Go's y -= a*x on amd64), eight values of x at a time in a register (the last ones masked)
// for every row.
TEXT ·subOuterF64AVX512(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ ldy+8(FP), DX
	SHLQ $3, DX
	MOVQ x+32(FP), SI
	MOVQ n+40(FP), CX
sof64chunk:
	MOVQ $0xff, AX
	CMPQ CX, $8
	JGE  sof64mask
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
sof64mask:
	KMOVW AX, K1
	VMOVUPD.Z (SI), K1, Z0
	MOVQ a+16(FP), R8
	MOVQ na+24(FP), R9
	MOVQ DI, R10
sof64row:
	VBROADCASTSD (R8), Z1
	VMOVUPD.Z (R10), K1, Z2
	VMULPD Z0, Z1, Z3
	VSUBPD Z3, Z2, Z2
	VMOVUPD Z2, K1, (R10)
	ADDQ $8, R8
	ADDQ DX, R10
	DECQ R9
	JNZ  sof64row
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $8, CX
	JG   sof64chunk
	VZEROUPPER
	RET

// func addRowsF64AVX512(y *float64, n int, a *float64, k int, x *float64, ldx int)   (n > 0, k > 0)
// y[p] += a[l]·x[l·ldx + p] for l = 0, 1, … in order, a zero a[l] skipped, each product rounded
// before its addition (VMULPD, VADDPD): gonum's Dgemm for one row of C += A·B. Eight values of y
// at a time stay in a register over all l (the last ones masked).
TEXT ·addRowsF64AVX512(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ x+32(FP), SI
	MOVQ ldx+40(FP), DX
	SHLQ $3, DX
ar64chunk:
	MOVQ $0xff, AX
	CMPQ CX, $8
	JGE  ar64mask
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
ar64mask:
	KMOVW AX, K1
	VMOVUPD.Z (DI), K1, Z0
	MOVQ a+16(FP), R8
	MOVQ k+24(FP), R9
	MOVQ SI, R10
ar64l:
	MOVQ (R8), AX
	SHLQ $1, AX               // ±0 leaves no bit
	JZ   ar64skip
	VBROADCASTSD (R8), Z1
	VMOVUPD.Z (R10), K1, Z2
	VMULPD Z2, Z1, Z2
	VADDPD Z2, Z0, Z0
ar64skip:
	ADDQ $8, R8
	ADDQ DX, R10
	DECQ R9
	JNZ  ar64l
	VMOVUPD Z0, K1, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $8, CX
	JG   ar64chunk
	VZEROUPPER
	RET

// func gridF64AVX512(codes *uint8, v, e, x, scale, zero *float64, n int, maxq, d float64)
// gridErrAVX512's steps on float64 values, storing the grid point v as well, without a loss.
TEXT ·gridF64AVX512(SB), NOSPLIT, $0-72
	MOVQ codes+0(FP), DI
	MOVQ v+8(FP), R8
	MOVQ e+16(FP), R9
	MOVQ x+24(FP), SI
	MOVQ scale+32(FP), R10
	MOVQ zero+40(FP), R11
	MOVQ n+48(FP), CX
	VBROADCASTSD maxq+56(FP), Z13
	VBROADCASTSD d+64(FP), Z14
	VXORPD Z12, Z12, Z12
gf64loop:
	VMOVUPD (SI), Z0
	VMOVUPD (R10), Z1
	VMOVUPD (R11), Z3
	GRIDSTEP512
	VMOVUPD Z5, (R8)
	VMOVUPD Z6, (R9)
	ADDQ $8, DI
	ADDQ $64, R8
	ADDQ $64, R9
	ADDQ $64, SI
	ADDQ $64, R10
	ADDQ $64, R11
	SUBQ $8, CX
	JNZ  gf64loop
	VZEROUPPER
	RET
