//go:build amd64 && !noasm

#include "textflag.h"

// The constants of Go's math.Exp (src/math/exp_amd64.s, its FMA path), so that each lane
// computes exactly what math.Exp computes for that value.
DATA expc<>+0(SB)/8, $1.4426950408889634073599246810018920   // LOG2E
DATA expc<>+8(SB)/8, $0.69314718055966295651160180568695068359375   // LN2U
DATA expc<>+16(SB)/8, $0.28235290563031577122588448175013436025525412068e-12 // LN2L
DATA expc<>+24(SB)/8, $0.0625
DATA expc<>+32(SB)/8, $2.4801587301587301587e-5
DATA expc<>+40(SB)/8, $1.9841269841269841270e-4
DATA expc<>+48(SB)/8, $1.3888888888888888889e-3
DATA expc<>+56(SB)/8, $8.3333333333333333333e-3
DATA expc<>+64(SB)/8, $4.1666666666666666667e-2
DATA expc<>+72(SB)/8, $1.6666666666666666667e-1
DATA expc<>+80(SB)/8, $0.5
DATA expc<>+88(SB)/8, $1.0
DATA expc<>+96(SB)/8, $2.0
DATA expc<>+104(SB)/8, $-700.0
DATA expc<>+112(SB)/8, $1023
GLOBL expc<>(SB), RODATA, $120

// func expShiftSumAVX2(x *float32, n int, mx float32) float32      (n % 4 == 0, n > 0)
// x[i] = float32(math.Exp(float64(x[i] - mx))) for x[i] - mx in [-700, 0] (0 below -700, where
// the float32 result is 0 anyway); returns the float32 sum of the results (4 partial sums).
TEXT ·expShiftSumAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS mx+16(FP), X15
	VBROADCASTSD expc<>+0(SB), Y14   // LOG2E
	VBROADCASTSD expc<>+8(SB), Y13   // LN2U
	VBROADCASTSD expc<>+16(SB), Y12  // LN2L
	VBROADCASTSD expc<>+24(SB), Y11  // 1/16
	VBROADCASTSD expc<>+96(SB), Y10  // 2
	VBROADCASTSD expc<>+88(SB), Y9   // 1
	VBROADCASTSD expc<>+104(SB), Y8  // -700
	VPBROADCASTQ expc<>+112(SB), Y7  // 1023 (int64)
	VXORPS X6, X6, X6                // sum
loop:
	VMOVUPS (SI), X0
	VSUBPS  X15, X0, X0              // v - mx in float32, as Softmax computes it
	VCVTPS2PD X0, Y0                 // x
	VCMPPD  $1, Y8, Y0, Y5           // lanes with x < -700
	VMULPD  Y14, Y0, Y1              // LOG2E·x
	VCVTPD2DQY Y1, X2                // k = round(LOG2E·x)
	VCVTDQ2PD X2, Y1
	VFNMADD231PD Y13, Y1, Y0         // x -= k·LN2U (fused)
	VFNMADD231PD Y12, Y1, Y0         // x -= k·LN2L (fused)
	VMULPD  Y11, Y0, Y0              // x/16
	VBROADCASTSD expc<>+32(SB), Y3
	VBROADCASTSD expc<>+40(SB), Y4
	VFMADD213PD Y4, Y0, Y3
	VBROADCASTSD expc<>+48(SB), Y4
	VFMADD213PD Y4, Y0, Y3
	VBROADCASTSD expc<>+56(SB), Y4
	VFMADD213PD Y4, Y0, Y3
	VBROADCASTSD expc<>+64(SB), Y4
	VFMADD213PD Y4, Y0, Y3
	VBROADCASTSD expc<>+72(SB), Y4
	VFMADD213PD Y4, Y0, Y3
	VBROADCASTSD expc<>+80(SB), Y4
	VFMADD213PD Y4, Y0, Y3
	VFMADD213PD Y9, Y0, Y3
	VMULPD  Y3, Y0, Y0
	VADDPD  Y10, Y0, Y3              // (x+2)·x, four times: (1+x)^16 by squaring e^(x/16)-1
	VMULPD  Y3, Y0, Y0
	VADDPD  Y10, Y0, Y3
	VMULPD  Y3, Y0, Y0
	VADDPD  Y10, Y0, Y3
	VMULPD  Y3, Y0, Y0
	VADDPD  Y10, Y0, Y3
	VFMADD213PD Y9, Y3, Y0           // last step + 1 (fused)
	VPMOVSXDQ X2, Y2                 // k as int64
	VPADDQ  Y7, Y2, Y2
	VPSLLQ  $52, Y2, Y2              // 2^k
	VMULPD  Y2, Y0, Y0
	VANDNPD Y0, Y5, Y0               // 0 where x < -700
	VCVTPD2PSY Y0, X0
	VMOVUPS X0, (SI)
	VADDPS  X0, X6, X6
	ADDQ $16, SI
	SUBQ $4, CX
	JNZ  loop
	VHADDPS X6, X6, X6
	VHADDPS X6, X6, X6
	VMOVSS  X6, ret+24(FP)
	VZEROUPPER
	RET

// EXPCORE: for x in Z0 (8 float64), math.Exp's FMA sequence up to the last step: afterwards
// exp(x) = Z0 · Z2 (Z2 = 2^k). Uses Z0-Z3 and the constants expShiftSumAVX512 loads into
// Z7 and Z9-Z14 (the polynomial's from memory, as the AVX2 kernel: Z0-Z15 only).
#define EXPCORE \
	VMULPD  Z14, Z0, Z1; \
	VCVTPD2DQ Z1, Y2; \
	VCVTDQ2PD Y2, Z1; \
	VFNMADD231PD Z13, Z1, Z0; \
	VFNMADD231PD Z12, Z1, Z0; \
	VMULPD  Z11, Z0, Z0; \
	VBROADCASTSD expc<>+32(SB), Z3; \
	VFMADD213PD.BCST expc<>+40(SB), Z0, Z3; \
	VFMADD213PD.BCST expc<>+48(SB), Z0, Z3; \
	VFMADD213PD.BCST expc<>+56(SB), Z0, Z3; \
	VFMADD213PD.BCST expc<>+64(SB), Z0, Z3; \
	VFMADD213PD.BCST expc<>+72(SB), Z0, Z3; \
	VFMADD213PD.BCST expc<>+80(SB), Z0, Z3; \
	VFMADD213PD Z9, Z0, Z3; \
	VMULPD  Z3, Z0, Z0; \
	VADDPD  Z10, Z0, Z3; \
	VMULPD  Z3, Z0, Z0; \
	VADDPD  Z10, Z0, Z3; \
	VMULPD  Z3, Z0, Z0; \
	VADDPD  Z10, Z0, Z3; \
	VMULPD  Z3, Z0, Z0; \
	VADDPD  Z10, Z0, Z3; \
	VFMADD213PD Z9, Z3, Z0; \
	VPMOVSXDQ Y2, Z2; \
	VPADDQ  Z7, Z2, Z2; \
	VPSLLQ  $52, Z2, Z2

// EXPBODY: Y0 (8 float32) = float32(math.Exp(float64(Y0 - mx))), 0 where that is below -700
// (mx in Y15). Uses Z0-Z3 and K1.
#define EXPBODY \
	VSUBPS  Y15, Y0, Y0; \
	VCVTPS2PD Y0, Z0; \
	VCMPPD  $5, Z8, Z0, K1; \
	EXPCORE; \
	VMULPD.Z Z2, Z0, K1, Z0; \
	VCVTPD2PS Z0, Y0

// func expShiftSumAVX512(x *float32, n int, mx float32) float32      (n % 4 == 0, n > 0)
// expShiftSumAVX2 eight values at a time: the same math.Exp FMA sequence on 8 float64 lanes
// (each value bit-identical), and the same 4-lane float32 sum, added to in the same order
// (values i..i+3, then i+4..i+7), so the returned sum has the AVX2 kernel's bits too. A last
// group of 4 runs the 8-lane code with the upper half unused.
TEXT ·expShiftSumAVX512(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS mx+16(FP), Y15
	VBROADCASTSD expc<>+0(SB), Z14   // LOG2E
	VBROADCASTSD expc<>+8(SB), Z13   // LN2U
	VBROADCASTSD expc<>+16(SB), Z12  // LN2L
	VBROADCASTSD expc<>+24(SB), Z11  // 1/16
	VBROADCASTSD expc<>+96(SB), Z10  // 2
	VBROADCASTSD expc<>+88(SB), Z9   // 1
	VBROADCASTSD expc<>+104(SB), Z8  // -700
	VPBROADCASTQ expc<>+112(SB), Z7  // 1023 (int64)
	VXORPS X6, X6, X6                // sum (4 lanes)
	CMPQ CX, $8
	JLT  tail4
loop8:
	VMOVUPS (SI), Y0
	EXPBODY
	VMOVUPS Y0, (SI)
	VADDPS  X0, X6, X6               // values i..i+3
	VEXTRACTF128 $1, Y0, X1
	VADDPS  X1, X6, X6               // then i+4..i+7, as the AVX2 kernel adds them
	ADDQ $32, SI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE  loop8
	TESTQ CX, CX
	JZ   done
tail4:
	VMOVUPS (SI), X0                 // 4 values; the upper lanes compute exp(-mx), unused
	EXPBODY
	VMOVUPS X0, (SI)
	VADDPS  X0, X6, X6
done:
	VHADDPS X6, X6, X6
	VHADDPS X6, X6, X6
	VMOVSS  X6, ret+24(FP)
	VZEROUPPER
	RET

// func maxF32AVX2(x *float32, n int) (mx float32, unordered bool)      (n % 8 == 0, n > 0)
// The maximum of x, and whether any value is NaN (then mx is meaningless).
TEXT ·maxF32AVX2(SB), NOSPLIT, $0-21
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS (SI), Y0
	VXORPS Y2, Y2, Y2
maxloop:
	VMOVUPS (SI), Y1
	VMAXPS  Y1, Y0, Y0
	VCMPPS  $3, Y1, Y1, Y3           // unordered: NaN lanes
	VORPS   Y3, Y2, Y2
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ  maxloop
	VEXTRACTF128 $1, Y0, X1
	VMAXPS  X1, X0, X0
	VPERMILPS $0x4E, X0, X1
	VMAXPS  X1, X0, X0
	VPERMILPS $0xB1, X0, X1
	VMAXPS  X1, X0, X0
	VMOVSS  X0, mx+16(FP)
	VMOVMSKPS Y2, AX
	TESTL AX, AX
	SETNE unordered+20(FP)
	VZEROUPPER
	RET

// func scaleF32AVX2(x *float32, n int, a float32)      (n % 8 == 0, n > 0)
TEXT ·scaleF32AVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS a+16(FP), Y0
scaleloop:
	VMULPS (SI), Y0, Y1
	VMOVUPS Y1, (SI)
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ  scaleloop
	VZEROUPPER
	RET

DATA swc<>+0(SB)/8, $700.0
DATA swc<>+8(SB)/8, $0x7FF0000000000000   // +Inf
DATA swc<>+16(SB)/4, $0x80000000          // float32 sign
DATA swc<>+20(SB)/4, $1.0                 // float32 1
GLOBL swc<>(SB), RODATA, $24

// func swigluAVX2(dst, gate, up *float32, n int)      (n % 4 == 0, n > 0)
// dst[i] = gate[i] / (1 + float32(math.Exp(float64(-gate[i])))) · up[i], the exp computed as
// expShiftSumAVX2 computes it (math.Exp's own FMA sequence), 0 below -700 and +Inf above 700
// as math.Exp's float32 result is there.
TEXT ·swigluAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSD expc<>+0(SB), Y14   // LOG2E
	VBROADCASTSD expc<>+8(SB), Y13   // LN2U
	VBROADCASTSD expc<>+16(SB), Y12  // LN2L
	VBROADCASTSD expc<>+24(SB), Y11  // 1/16
	VBROADCASTSD expc<>+96(SB), Y10  // 2
	VBROADCASTSD expc<>+88(SB), Y9   // 1
	VBROADCASTSD expc<>+104(SB), Y8  // -700
	VPBROADCASTQ expc<>+112(SB), Y7  // 1023 (int64)
	VBROADCASTSD swc<>+0(SB), Y15    // 700
	VBROADCASTSS swc<>+16(SB), X6    // sign bit
swloop:
	VMOVUPS (SI), X0
	VXORPS  X6, X0, X0               // -g
	VCVTPS2PD X0, Y0                 // x
	VCMPPD  $1, Y8, Y0, Y5           // x < -700: exp is 0 as float32
	VCMPPD  $0x1E, Y15, Y0, Y4       // x > 700: +Inf
	VMULPD  Y14, Y0, Y1
	VCVTPD2DQY Y1, X2
	VCVTDQ2PD X2, Y1
	VFNMADD231PD Y13, Y1, Y0
	VFNMADD231PD Y12, Y1, Y0
	VMULPD  Y11, Y0, Y0
	VBROADCASTSD expc<>+32(SB), Y3
	VBROADCASTSD expc<>+40(SB), Y1
	VFMADD213PD Y1, Y0, Y3
	VBROADCASTSD expc<>+48(SB), Y1
	VFMADD213PD Y1, Y0, Y3
	VBROADCASTSD expc<>+56(SB), Y1
	VFMADD213PD Y1, Y0, Y3
	VBROADCASTSD expc<>+64(SB), Y1
	VFMADD213PD Y1, Y0, Y3
	VBROADCASTSD expc<>+72(SB), Y1
	VFMADD213PD Y1, Y0, Y3
	VBROADCASTSD expc<>+80(SB), Y1
	VFMADD213PD Y1, Y0, Y3
	VFMADD213PD Y9, Y0, Y3
	VMULPD  Y3, Y0, Y0
	VADDPD  Y10, Y0, Y3
	VMULPD  Y3, Y0, Y0
	VADDPD  Y10, Y0, Y3
	VMULPD  Y3, Y0, Y0
	VADDPD  Y10, Y0, Y3
	VMULPD  Y3, Y0, Y0
	VADDPD  Y10, Y0, Y3
	VFMADD213PD Y9, Y3, Y0
	VPMOVSXDQ X2, Y2
	VPADDQ  Y7, Y2, Y2
	VPSLLQ  $52, Y2, Y2
	VMULPD  Y2, Y0, Y0
	VANDNPD Y0, Y5, Y0
	VBROADCASTSD swc<>+8(SB), Y1
	VBLENDVPD Y4, Y1, Y0, Y0
	VCVTPD2PSY Y0, X0                // e = float32(exp(-g))
	VBROADCASTSS swc<>+20(SB), X1
	VADDPS  X1, X0, X0               // 1 + e
	VMOVUPS (SI), X2
	VDIVPS  X0, X2, X2               // g / (1 + e)
	VMOVUPS (DX), X1
	VMULPS  X1, X2, X2               // · up
	VMOVUPS X2, (DI)
	ADDQ $16, SI
	ADDQ $16, DX
	ADDQ $16, DI
	SUBQ $4, CX
	JNZ  swloop
	VZEROUPPER
	RET

// func swigluAVX512(dst, gate, up *float32, n int)      (n % 4 == 0, n > 0)
// swigluAVX2 eight values at a time (each value bit-identical: the same exp sequence on 8
// float64 lanes, the same float32 operations after it); a last group of 4 runs the 8-lane code
// with the upper half unused.
#define SWIGLUBODY \
	VXORPS  Y6, Y0, Y0; \
	VCVTPS2PD Y0, Z0; \
	VCMPPD  $5, Z8, Z0, K1; \
	VCMPPD  $0x1E, Z15, Z0, K2; \
	EXPCORE; \
	VMULPD.Z Z2, Z0, K1, Z0; \
	VMOVAPD Z4, K2, Z0; \
	VCVTPD2PS Z0, Y0; \
	VADDPS  Y5, Y0, Y0

TEXT ·swigluAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSD expc<>+0(SB), Z14   // LOG2E
	VBROADCASTSD expc<>+8(SB), Z13   // LN2U
	VBROADCASTSD expc<>+16(SB), Z12  // LN2L
	VBROADCASTSD expc<>+24(SB), Z11  // 1/16
	VBROADCASTSD expc<>+96(SB), Z10  // 2
	VBROADCASTSD expc<>+88(SB), Z9   // 1
	VBROADCASTSD expc<>+104(SB), Z8  // -700
	VPBROADCASTQ expc<>+112(SB), Z7  // 1023 (int64)
	VBROADCASTSD swc<>+0(SB), Z15    // 700
	VBROADCASTSD swc<>+8(SB), Z4     // +Inf
	VBROADCASTSS swc<>+16(SB), Y6    // sign bit
	VBROADCASTSS swc<>+20(SB), Y5    // float32 1
	CMPQ CX, $8
	JLT  swtail4
swloop8:
	VMOVUPS (SI), Y0
	SWIGLUBODY
	VMOVUPS (SI), Y2
	VDIVPS  Y0, Y2, Y2               // g / (1 + e)
	VMOVUPS (DX), Y1
	VMULPS  Y1, Y2, Y2               // · up
	VMOVUPS Y2, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE  swloop8
	TESTQ CX, CX
	JZ   swdone
swtail4:
	VMOVUPS (SI), X0
	SWIGLUBODY
	VMOVUPS (SI), X2
	VDIVPS  X0, X2, X2
	VMOVUPS (DX), X1
	VMULPS  X1, X2, X2
	VMOVUPS X2, (DI)
swdone:
	VZEROUPPER
	RET
