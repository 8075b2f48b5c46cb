//go:build !noasm && !purego

#include "textflag.h"

// NEON kernels. SDOT (by element) Vd.4S += Vn.16B · Vm.4B[i]: each 32-bit lane gets one row's
// 4-byte dot product with the i-th 4-byte word of Vm, so a 64-byte step (16 rows) is four SDOTs
// per word of activations. SDOT is signed × signed: 4-bit codes (0..15) are fine as they are,
// 8-bit codes are flipped to c−128 (EOR 0x80) and the zero term becomes s·(z−128).
//
// Arguments: w+0 sm+8 xq+16 xd+24 nb+32 steps+40 out+48
// R0 w, R1 sm, R2 activations, R3 (d, xsum) per block, R4 blocks left, R5 steps, R7 steps left,
// R6 out.

// Instructions the Go assembler lacks, by their A64 encodings (d, n, m register numbers):
// SDOT Vd.4S, Vn.16B, Vm.4B[i]
#define SDOTE(d, n, m, i) WORD $(0x4F80E000 | (((i)&1)<<21) | ((m)<<16) | (((i)>>1)<<11) | ((n)<<5) | (d))
// SCVTF Vd.4S, Vn.4S
#define SCVTF4(d, n) WORD $(0x4E21D800 | ((n)<<5) | (d))
// FMUL Vd.4S, Vn.4S, Vm.S[i]
#define FMULE(d, n, m, i) WORD $(0x4F809000 | (((i)&1)<<21) | ((m)<<16) | (((i)>>1)<<11) | ((n)<<5) | (d))
// FMLS Vd.4S, Vn.4S, Vm.S[i]
#define FMLSE(d, n, m, i) WORD $(0x4F805000 | (((i)&1)<<21) | ((m)<<16) | (((i)>>1)<<11) | ((n)<<5) | (d))
// USHLL{2} #0 (UXTL): Vd.8H ← Vn.8B (low) / Vn.16B (high half); Vd.4S ← Vn.4H / Vn.8H
#define UXTLB(d, n) WORD $(0x2F08A400 | ((n)<<5) | (d))
#define UXTLB2(d, n) WORD $(0x6F08A400 | ((n)<<5) | (d))
#define UXTLH(d, n) WORD $(0x2F10A400 | ((n)<<5) | (d))
#define UXTLH2(d, n) WORD $(0x6F10A400 | ((n)<<5) | (d))
// FCVTL{2} Vd.4S ← Vn.4H / Vn.8H (fp16 → fp32)
#define FCVTL(d, n) WORD $(0x0E217800 | ((n)<<5) | (d))
#define FCVTL2(d, n) WORD $(0x4E217800 | ((n)<<5) | (d))
// UCVTF Vd.4S, Vn.4S
#define UCVTF4(d, n) WORD $(0x6E21D800 | ((n)<<5) | (d))
// FMUL Vd.4S, Vn.4S, Vm.4S
#define FMULV(d, n, m) WORD $(0x6E20DC00 | ((m)<<16) | ((n)<<5) | (d))

// Metadata records (q.go): 16 fp16 scales, then 16 zeros, uint8 for 4-bit codes (48 bytes) and
// uint16 for 8-bit codes (64 bytes). SZ(s, z): with the scales as fp16 in V(s), V(s+1) and the
// zeros as 32-bit integers in V(z)..V(z+3), leave s as float32 in V(s)..V(s+3) and s·z (exact)
// in V(z)..V(z+3).
#define SZ(s, z) \
	UCVTF4(z, z); \
	UCVTF4(z+1, z+1); \
	UCVTF4(z+2, z+2); \
	UCVTF4(z+3, z+3); \
	FCVTL2(s+3, s+1); \
	FCVTL(s+2, s+1); \
	FCVTL2(s+1, s); \
	FCVTL(s, s); \
	FMULV(z, z, s); \
	FMULV(z+1, z+1, s+1); \
	FMULV(z+2, z+2, s+2); \
	FMULV(z+3, z+3, s+3)

// META4 / META8: the record at R1 (post-incremented) → s in V8-V11, s·z in V12-V15.
#define META4 \
	VLD1.P 48(R1), [V8.B16, V9.B16, V10.B16]; \
	UXTLB2(14, 10); \
	UXTLB(12, 10); \
	UXTLH2(13, 12); \
	UXTLH(12, 12); \
	UXTLH2(15, 14); \
	UXTLH(14, 14); \
	SZ(8, 12)

#define META8 \
	VLD1.P 64(R1), [V8.B16, V9.B16, V10.B16, V11.B16]; \
	UXTLH2(13, 10); \
	UXTLH(12, 10); \
	UXTLH2(15, 11); \
	UXTLH(14, 11); \
	SZ(8, 12)

// TMETA4 / TMETA8: the same into V0-V3 (s) and V4-V7 (s·z), for the tile kernels.
#define TMETA4 \
	VLD1.P 48(R1), [V0.B16, V1.B16, V2.B16]; \
	UXTLB2(6, 2); \
	UXTLB(4, 2); \
	UXTLH2(5, 4); \
	UXTLH(4, 4); \
	UXTLH2(7, 6); \
	UXTLH(6, 6); \
	SZ(0, 4)

#define TMETA8 \
	VLD1.P 64(R1), [V0.B16, V1.B16, V2.B16, V3.B16]; \
	UXTLH2(5, 2); \
	UXTLH(4, 2); \
	UXTLH2(7, 3); \
	UXTLH(6, 3); \
	SZ(0, 4)

#define LOADARGS \
	MOVD w+0(FP), R0; \
	MOVD sm+8(FP), R1; \
	MOVD xq+16(FP), R2; \
	MOVD xd+24(FP), R3; \
	MOVD nb+32(FP), R4; \
	MOVD steps+40(FP), R5; \
	MOVD out+48(FP), R6

#define ZERO8(a, b, c, d, e, f, g, h) \
	VEOR a.B16, a.B16, a.B16; \
	VEOR b.B16, b.B16, b.B16; \
	VEOR c.B16, c.B16, c.B16; \
	VEOR d.B16, d.B16, d.B16; \
	VEOR e.B16, e.B16, e.B16; \
	VEOR f.B16, f.B16, f.B16; \
	VEOR g.B16, g.B16, g.B16; \
	VEOR h.B16, h.B16, h.B16

// UNPACK4: 64 bytes at R0 → low nibbles V0-V3 (rows 0-3 … 12-15), high nibbles V4-V7.
#define UNPACK4 \
	VLD1.P 64(R0), [V0.B16, V1.B16, V2.B16, V3.B16]; \
	VUSHR $4, V0.B16, V4.B16; \
	VUSHR $4, V1.B16, V5.B16; \
	VUSHR $4, V2.B16, V6.B16; \
	VUSHR $4, V3.B16, V7.B16; \
	VAND V31.B16, V0.B16, V0.B16; \
	VAND V31.B16, V1.B16, V1.B16; \
	VAND V31.B16, V2.B16, V2.B16; \
	VAND V31.B16, V3.B16, V3.B16

// SDOT4: the four row quads (registers n..n+3) times word i of V(m), into accumulators d..d+3.
#define SDOT4(d, n, m, i) \
	SDOTE(d, n, m, i); \
	SDOTE(d+1, n+1, m, i); \
	SDOTE(d+2, n+2, m, i); \
	SDOTE(d+3, n+3, m, i)

// EPI: V26-V29 += float(V16-V19)·d·s − m·xsum with (d, xsum) in V25.S[0..1]; the record at R1.
#define EPI \
	SCVTF4(16, 16); \
	SCVTF4(17, 17); \
	SCVTF4(18, 18); \
	SCVTF4(19, 19); \
	FMULE(16, 16, 25, 0); \
	FMULE(17, 17, 25, 0); \
	FMULE(18, 18, 25, 0); \
	FMULE(19, 19, 25, 0); \
	META; \
	MFIX; \
	VFMLA V8.S4, V16.S4, V26.S4; \
	VFMLA V9.S4, V17.S4, V27.S4; \
	VFMLA V10.S4, V18.S4, V28.S4; \
	VFMLA V11.S4, V19.S4, V29.S4; \
	FMLSE(26, 12, 25, 1); \
	FMLSE(27, 13, 25, 1); \
	FMLSE(28, 14, 25, 1); \
	FMLSE(29, 15, 25, 1)

// func dot4NEON(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)
#define MFIX
#define META META4
TEXT ·dot4NEON(SB), NOSPLIT, $0-56
	LOADARGS
	VMOVI $15, V31.B16
	ZERO8(V26, V27, V28, V29, V26, V27, V28, V29)

n4block:
	ZERO8(V16, V17, V18, V19, V20, V21, V22, V23)
	MOVD R5, R7
	CMP  $2, R7
	BLT  n4single

n4pair:
	// The hot loop: two steps (16 inputs × 16 rows); 16 bytes of activations = 4 words.
	VLD1.P 16(R2), [V24.B16]
	UNPACK4
	SDOT4(16, 0, 24, 0)
	SDOT4(20, 4, 24, 1)
	UNPACK4
	SDOT4(16, 0, 24, 2)
	SDOT4(20, 4, 24, 3)
	SUB  $2, R7
	CMP  $2, R7
	BGE  n4pair

n4single:
	CBZ R7, n4epi
	VLD1.P 8(R2), [V24.B8]
	UNPACK4
	SDOT4(16, 0, 24, 0)
	SDOT4(20, 4, 24, 1)

n4epi:
	VADD V20.S4, V16.S4, V16.S4
	VADD V21.S4, V17.S4, V17.S4
	VADD V22.S4, V18.S4, V18.S4
	VADD V23.S4, V19.S4, V19.S4
	VLD1.P 8(R3), [V25.S2]
	EPI
	SUB  $1, R4
	CBNZ R4, n4block

	VST1 [V26.S4, V27.S4, V28.S4, V29.S4], (R6)
	RET
#undef MFIX
#undef META

// FLIP4: 64 bytes at R0 → 8-bit codes − 128 as signed bytes in registers a..d (V30 = 0x80).
#define FLIP4(a, b, c, d) \
	VLD1.P 64(R0), [a.B16, b.B16, c.B16, d.B16]; \
	VEOR V30.B16, a.B16, a.B16; \
	VEOR V30.B16, b.B16, b.B16; \
	VEOR V30.B16, c.B16, c.B16; \
	VEOR V30.B16, d.B16, d.B16

// m − 128·s (V31 = 128.0): the zero term for codes flipped to c − 128.
#define MFIX \
	VFMLS V31.S4, V8.S4, V12.S4; \
	VFMLS V31.S4, V9.S4, V13.S4; \
	VFMLS V31.S4, V10.S4, V14.S4; \
	VFMLS V31.S4, V11.S4, V15.S4

// func dot8NEON(w *byte, sm *byte, xq *int8, xd *float32, nb, steps int, out *float32)
// steps = inputs/4 is even (blocks are multiples of 8 inputs).
#define META META8
TEXT ·dot8NEON(SB), NOSPLIT, $0-56
	LOADARGS
	VMOVI $128, V30.B16
	MOVW $0x43000000, R8 // 128.0
	VDUP R8, V31.S4
	ZERO8(V26, V27, V28, V29, V26, V27, V28, V29)

n8block:
	ZERO8(V16, V17, V18, V19, V20, V21, V22, V23)
	MOVD R5, R7

n8pair:
	VLD1.P 8(R2), [V24.B8]
	FLIP4(V0, V1, V2, V3)
	FLIP4(V4, V5, V6, V7)
	SDOT4(16, 0, 24, 0)
	SDOT4(20, 4, 24, 1)
	SUB  $2, R7
	CBNZ R7, n8pair

	VADD V20.S4, V16.S4, V16.S4
	VADD V21.S4, V17.S4, V17.S4
	VADD V22.S4, V18.S4, V18.S4
	VADD V23.S4, V19.S4, V19.S4
	VLD1.P 8(R3), [V25.S2]
	EPI
	SUB  $1, R4
	CBNZ R4, n8block

	VST1 [V26.S4, V27.S4, V28.S4, V29.S4], (R6)
	RET
#undef MFIX
#undef META

// Tile kernels: token t's int32 sums for row quad q in V(8+4t+q); float sums in out, updated
// once per block. Activations per step: 4 tokens' words (16 bytes) per 4 inputs.

// TEPI: one token's block epilogue. a..a+3 its accumulators (numbers; A0-A3 the same as
// names), s in V0-V3, m (already adjusted) in V4-V7, (d, xsum) at V(dr).S[di], V(dr).S[di+1];
// R8 walks out.
#define TEPI(a, A0, A1, A2, A3, dr, di) \
	SCVTF4(a, a); \
	SCVTF4(a+1, a+1); \
	SCVTF4(a+2, a+2); \
	SCVTF4(a+3, a+3); \
	FMULE(a, a, dr, di); \
	FMULE(a+1, a+1, dr, di); \
	FMULE(a+2, a+2, dr, di); \
	FMULE(a+3, a+3, dr, di); \
	VLD1 (R8), [V26.S4, V27.S4, V28.S4, V29.S4]; \
	VFMLA V0.S4, A0.S4, V26.S4; \
	VFMLA V1.S4, A1.S4, V27.S4; \
	VFMLA V2.S4, A2.S4, V28.S4; \
	VFMLA V3.S4, A3.S4, V29.S4; \
	FMLSE(26, 4, dr, di+1); \
	FMLSE(27, 5, dr, di+1); \
	FMLSE(28, 6, dr, di+1); \
	FMLSE(29, 7, dr, di+1); \
	VST1.P [V26.S4, V27.S4, V28.S4, V29.S4], 64(R8); \
	VEOR A0.B16, A0.B16, A0.B16; \
	VEOR A1.B16, A1.B16, A1.B16; \
	VEOR A2.B16, A2.B16, A2.B16; \
	VEOR A3.B16, A3.B16, A3.B16

#define TILESTART \
	ZERO8(V26, V27, V28, V29, V26, V27, V28, V29); \
	MOVD R6, R8; \
	VST1.P [V26.S4, V27.S4, V28.S4, V29.S4], 64(R8); \
	VST1.P [V26.S4, V27.S4, V28.S4, V29.S4], 64(R8); \
	VST1.P [V26.S4, V27.S4, V28.S4, V29.S4], 64(R8); \
	VST1.P [V26.S4, V27.S4, V28.S4, V29.S4], 64(R8); \
	ZERO8(V8, V9, V10, V11, V12, V13, V14, V15); \
	ZERO8(V16, V17, V18, V19, V20, V21, V22, V23)

#define TILEEND \
	VLD1.P 32(R3), [V24.S4, V25.S4]; \
	TMETA; \
	TMFIX; \
	MOVD R6, R8; \
	TEPI(8, V8, V9, V10, V11, 24, 0); \
	TEPI(12, V12, V13, V14, V15, 24, 2); \
	TEPI(16, V16, V17, V18, V19, 25, 0); \
	TEPI(20, V20, V21, V22, V23, 25, 2)

// func tile4NEON(w *byte, sm *byte, tq *int8, td *float32, nb, steps int, out *float32)
#define TMFIX
#define TMETA TMETA4
TEXT ·tile4NEON(SB), NOSPLIT, $0-56
	MOVD w+0(FP), R0
	MOVD sm+8(FP), R1
	MOVD nb+32(FP), R4
	MOVD steps+40(FP), R5
	MOVD out+48(FP), R6
	MOVD tq+16(FP), R2
	MOVD td+24(FP), R3
	TILESTART
	VMOVI $15, V31.B16

m4block:
	MOVD R5, R7

m4step:
	// The hot loop: one step (8 inputs × 16 rows) for 4 tokens: 32 SDOTs per 64-byte load.
	VLD1.P 32(R2), [V24.B16, V25.B16]
	UNPACK4
	SDOT4(8, 0, 24, 0)
	SDOT4(8, 4, 25, 0)
	SDOT4(12, 0, 24, 1)
	SDOT4(12, 4, 25, 1)
	SDOT4(16, 0, 24, 2)
	SDOT4(16, 4, 25, 2)
	SDOT4(20, 0, 24, 3)
	SDOT4(20, 4, 25, 3)
	SUB  $1, R7
	CBNZ R7, m4step

	TILEEND
	SUB  $1, R4
	CBNZ R4, m4block
	RET
#undef TMFIX
#undef TMETA

// m − 128·s for the flipped 8-bit codes (V31 = 128.0).
#define TMFIX \
	VFMLS V31.S4, V0.S4, V4.S4; \
	VFMLS V31.S4, V1.S4, V5.S4; \
	VFMLS V31.S4, V2.S4, V6.S4; \
	VFMLS V31.S4, V3.S4, V7.S4

// func tile8NEON(w *byte, sm *byte, tq *int8, td *float32, nb, steps int, out *float32)
#define TMETA TMETA8
TEXT ·tile8NEON(SB), NOSPLIT, $0-56
	MOVD w+0(FP), R0
	MOVD sm+8(FP), R1
	MOVD nb+32(FP), R4
	MOVD steps+40(FP), R5
	MOVD out+48(FP), R6
	MOVD tq+16(FP), R2
	MOVD td+24(FP), R3
	TILESTART
	VMOVI $128, V30.B16
	MOVW $0x43000000, R9 // 128.0
	VDUP R9, V31.S4

m8block:
	MOVD R5, R7

m8pair:
	// Two steps (2 × 4 inputs): words of 4 tokens in V24 (first step) and V25 (second).
	VLD1.P 32(R2), [V24.B16, V25.B16]
	FLIP4(V0, V1, V2, V3)
	FLIP4(V4, V5, V6, V7)
	SDOT4(8, 0, 24, 0)
	SDOT4(8, 4, 25, 0)
	SDOT4(12, 0, 24, 1)
	SDOT4(12, 4, 25, 1)
	SDOT4(16, 0, 24, 2)
	SDOT4(16, 4, 25, 2)
	SDOT4(20, 0, 24, 3)
	SDOT4(20, 4, 25, 3)
	SUB  $2, R7
	CBNZ R7, m8pair

	TILEEND
	SUB  $1, R4
	CBNZ R4, m8block
	RET
