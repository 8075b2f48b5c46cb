//go:build !noasm && !purego

#include "textflag.h"

// func quantAVX2(x *float32, q *int8, d *float32, nb, blk int)
// Per block of blk floats (a multiple of 8): amax = max|x|, d = amax/127, inv = 127/amax,
// q = round-to-nearest-even(x·inv) (VCVTPS2DQ under the default MXCSR), xsum = float(Σq)·d —
// the same operations as quantizeBlock in act.go.
DATA absmask<>+0(SB)/4, $0x7fffffff
GLOBL absmask<>(SB), RODATA|NOPTR, $4
DATA f127<>+0(SB)/4, $127.0
GLOBL f127<>(SB), RODATA|NOPTR, $4

TEXT ·quantAVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ blk+32(FP), R8
	TESTQ CX, CX
	JZ    done
	VBROADCASTSS absmask<>(SB), Y15
	VMOVSS f127<>(SB), X14

block:
	VXORPS Y0, Y0, Y0
	MOVQ   R8, R9
	MOVQ   SI, R10

absmax:
	VANDPS (R10), Y15, Y1
	VMAXPS Y1, Y0, Y0
	ADDQ   $32, R10
	SUBQ   $8, R9
	JNZ    absmax
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXPS       X1, X0, X0
	VXORPS       X2, X2, X2
	VUCOMISS     X2, X0
	JEQ          zero
	VDIVSS       X14, X0, X3 // d = amax/127
	VDIVSS       X0, X14, X4 // inv = 127/amax
	VBROADCASTSS X4, Y4
	VPXOR        Y5, Y5, Y5
	MOVQ         R8, R9

codes:
	VMULPS       (SI), Y4, Y1
	VCVTPS2DQ    Y1, Y1
	VPADDD       Y1, Y5, Y5
	VEXTRACTI128 $1, Y1, X2
	VPACKSSDW    X2, X1, X1
	VPACKSSWB    X1, X1, X1
	VMOVQ        X1, (DI)
	ADDQ         $32, SI
	ADDQ         $8, DI
	SUBQ         $8, R9
	JNZ          codes
	VEXTRACTI128 $1, Y5, X6
	VPADDD       X6, X5, X5
	VPSHUFD      $0x4e, X5, X6
	VPADDD       X6, X5, X5
	VPSHUFD      $0xb1, X5, X6
	VPADDD       X6, X5, X5
	VCVTDQ2PS    X5, X5
	VMULSS       X3, X5, X5 // xsum = float(Σq)·d
	VMOVSS       X3, (DX)
	VMOVSS       X5, 4(DX)
	JMP          next

zero:
	MOVQ R8, R9

zeros:
	MOVQ $0, (DI)
	ADDQ $32, SI
	ADDQ $8, DI
	SUBQ $8, R9
	JNZ  zeros
	MOVQ $0, (DX)

next:
	ADDQ $8, DX
	DECQ CX
	JNZ  block

done:
	VZEROUPPER
	RET
