//go:build amd64 && !noasm

#include "textflag.h"

// MinMaxColsF32's loops. The running lo and hi stay in registers while the columns go by:
// VMINPS lo, v, lo is lo = v < lo ? v : lo (the second source, the running value, on a tie or
// equal zeros of either sign), VMAXPS hi, v, hi is hi = v > hi ? v : hi, so each lane is the
// scalar loop's comparison and the same bits. Pure-Go twin: minMaxColsGo (minmax.go).

// func minMaxColsAVX512(lo, hi, x *float32, n, ldx, cols int)      (n > 0, cols > 0)
// 64 rows at a time (four 16-lane lo, four hi), then 16, then the last n%16 rows masked.
TEXT ·minMaxColsAVX512(SB), NOSPLIT, $0-48
	MOVQ lo+0(FP), DI
	MOVQ hi+8(FP), SI
	MOVQ x+16(FP), R8
	MOVQ n+24(FP), BX
	MOVQ ldx+32(FP), DX
	SHLQ $2, DX
	MOVQ cols+40(FP), R9
mm5wide:
	CMPQ BX, $64
	JLT  mm5chunk
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VMOVUPS 128(SI), Z6
	VMOVUPS 192(SI), Z7
	MOVQ R8, R10
	MOVQ R9, CX
mm5wcol:
	VMOVUPS (R10), Z8
	VMOVUPS 64(R10), Z9
	VMOVUPS 128(R10), Z10
	VMOVUPS 192(R10), Z11
	VMINPS Z0, Z8, Z0
	VMAXPS Z4, Z8, Z4
	VMINPS Z1, Z9, Z1
	VMAXPS Z5, Z9, Z5
	VMINPS Z2, Z10, Z2
	VMAXPS Z6, Z10, Z6
	VMINPS Z3, Z11, Z3
	VMAXPS Z7, Z11, Z7
	ADDQ DX, R10
	DECQ CX
	JNZ  mm5wcol
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, (SI)
	VMOVUPS Z5, 64(SI)
	VMOVUPS Z6, 128(SI)
	VMOVUPS Z7, 192(SI)
	ADDQ $256, DI
	ADDQ $256, SI
	ADDQ $256, R8
	SUBQ $64, BX
	JMP  mm5wide
mm5chunk:
	CMPQ BX, $16
	JLT  mm5tail
	VMOVUPS (DI), Z0
	VMOVUPS (SI), Z4
	MOVQ R8, R10
	MOVQ R9, CX
mm5ccol:
	VMOVUPS (R10), Z8
	VMINPS Z0, Z8, Z0
	VMAXPS Z4, Z8, Z4
	ADDQ DX, R10
	DECQ CX
	JNZ  mm5ccol
	VMOVUPS Z0, (DI)
	VMOVUPS Z4, (SI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, R8
	SUBQ $16, BX
	JMP  mm5chunk
mm5tail:
	TESTQ BX, BX
	JZ   mm5done
	MOVQ BX, CX
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1 // the low n%16 lanes; the others are neither loaded nor stored
	VMOVUPS.Z (DI), K1, Z0
	VMOVUPS.Z (SI), K1, Z4
	MOVQ R8, R10
	MOVQ R9, CX
mm5tcol:
	VMOVUPS.Z (R10), K1, Z8
	VMINPS Z0, Z8, Z0
	VMAXPS Z4, Z8, Z4
	ADDQ DX, R10
	DECQ CX
	JNZ  mm5tcol
	VMOVUPS Z0, K1, (DI)
	VMOVUPS Z4, K1, (SI)
mm5done:
	VZEROUPPER
	RET

// func minMaxColsAVX2(lo, hi, x *float32, n, ldx, cols int)      (n % 8 == 0, n > 0, cols > 0)
// 32 rows at a time (four 8-lane lo, four hi), then 8.
TEXT ·minMaxColsAVX2(SB), NOSPLIT, $0-48
	MOVQ lo+0(FP), DI
	MOVQ hi+8(FP), SI
	MOVQ x+16(FP), R8
	MOVQ n+24(FP), BX
	MOVQ ldx+32(FP), DX
	SHLQ $2, DX
	MOVQ cols+40(FP), R9
mm2wide:
	CMPQ BX, $32
	JLT  mm2chunk
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	MOVQ R8, R10
	MOVQ R9, CX
mm2wcol:
	VMOVUPS (R10), Y8
	VMOVUPS 32(R10), Y9
	VMOVUPS 64(R10), Y10
	VMOVUPS 96(R10), Y11
	VMINPS Y0, Y8, Y0
	VMAXPS Y4, Y8, Y4
	VMINPS Y1, Y9, Y1
	VMAXPS Y5, Y9, Y5
	VMINPS Y2, Y10, Y2
	VMAXPS Y6, Y10, Y6
	VMINPS Y3, Y11, Y3
	VMAXPS Y7, Y11, Y7
	ADDQ DX, R10
	DECQ CX
	JNZ  mm2wcol
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, (SI)
	VMOVUPS Y5, 32(SI)
	VMOVUPS Y6, 64(SI)
	VMOVUPS Y7, 96(SI)
	ADDQ $128, DI
	ADDQ $128, SI
	ADDQ $128, R8
	SUBQ $32, BX
	JMP  mm2wide
mm2chunk:
	TESTQ BX, BX
	JZ   mm2done
	VMOVUPS (DI), Y0
	VMOVUPS (SI), Y4
	MOVQ R8, R10
	MOVQ R9, CX
mm2ccol:
	VMOVUPS (R10), Y8
	VMINPS Y0, Y8, Y0
	VMAXPS Y4, Y8, Y4
	ADDQ DX, R10
	DECQ CX
	JNZ  mm2ccol
	VMOVUPS Y0, (DI)
	VMOVUPS Y4, (SI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	SUBQ $8, BX
	JMP  mm2chunk
mm2done:
	VZEROUPPER
	RET
