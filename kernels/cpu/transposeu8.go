package cpu

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// TransposeU8 sets dst[r·ldd + c] = src[c·lds + r] for r < rows, c < cols: src holds cols
// columns of rows bytes, lds apart, and dst gets them as rows (GPTQ writes a tile's codes,
// gathered column by column, into the rows of the code matrix). 8×8 blocks go through eight
// 64-bit words (eight columns read, three rounds of masked shifts, eight rows written); the
// edges byte by byte. It panics when src or dst is too short or a stride is shorter than
// what it spaces (ldd < cols with rows > 1, lds < rows with cols > 1).
func TransposeU8(dst []byte, ldd int, src []byte, lds, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	if ldd < 0 || lds < 0 || (rows > 1 && ldd < cols) || (cols > 1 && lds < rows) {
		panic(fmt.Sprintf("cpu.TransposeU8: %d×%d with ldd %d, lds %d: the rows of dst or the columns of src overlap", rows, cols, ldd, lds))
	}
	if len(src) < rows || len(dst) < cols ||
		(cols > 1 && lds > 0 && cols-1 > (len(src)-rows)/lds) ||
		(rows > 1 && ldd > 0 && rows-1 > (len(dst)-cols)/ldd) {
		panic(fmt.Sprintf("cpu.TransposeU8: %d×%d with len(dst) %d, ldd %d, len(src) %d, lds %d: want len(dst) ≥ (rows-1)·ldd + cols and len(src) ≥ (cols-1)·lds + rows",
			rows, cols, len(dst), ldd, len(src), lds))
	}
	r8, c8 := rows&^7, cols&^7
	// The checks above bound every word read and written below (a block's last column ends at
	// src[(cols−1)·lds + rows], its last row at dst[(rows−1)·ldd + cols]), so the words are read
	// through unsafe.Slice without a bounds check each; LittleEndian keeps byte k at bits 8k on
	// any architecture.
	le := binary.LittleEndian
	sp, dp := unsafe.Pointer(unsafe.SliceData(src)), unsafe.Pointer(unsafe.SliceData(dst))
	word := func(p unsafe.Pointer, off int) []byte { return unsafe.Slice((*byte)(unsafe.Add(p, off)), 8) }
	for r := 0; r < r8; r += 8 {
		for c := 0; c < c8; c += 8 {
			// w[j] is column c+j's bytes r..r+7; afterwards w[i] is row r+i's bytes c..c+7.
			s := c*lds + r
			w0 := le.Uint64(word(sp, s))
			w1 := le.Uint64(word(sp, s+lds))
			w2 := le.Uint64(word(sp, s+2*lds))
			w3 := le.Uint64(word(sp, s+3*lds))
			w4 := le.Uint64(word(sp, s+4*lds))
			w5 := le.Uint64(word(sp, s+5*lds))
			w6 := le.Uint64(word(sp, s+6*lds))
			w7 := le.Uint64(word(sp, s+7*lds))
			// 4×4 blocks: the low half of w[j+4] trades places with the high half of w[j].
			const m32 = 0x00000000ffffffff
			w0, w4 = w0&m32|w4<<32, w0>>32|w4&^m32
			w1, w5 = w1&m32|w5<<32, w1>>32|w5&^m32
			w2, w6 = w2&m32|w6<<32, w2>>32|w6&^m32
			w3, w7 = w3&m32|w7<<32, w3>>32|w7&^m32
			// 2×2 blocks within them: byte pairs between w[j] and w[j+2].
			const m16 = 0x0000ffff0000ffff
			w0, w2 = w0&m16|(w2&m16)<<16, (w0>>16)&m16|w2&^m16
			w1, w3 = w1&m16|(w3&m16)<<16, (w1>>16)&m16|w3&^m16
			w4, w6 = w4&m16|(w6&m16)<<16, (w4>>16)&m16|w6&^m16
			w5, w7 = w5&m16|(w7&m16)<<16, (w5>>16)&m16|w7&^m16
			// single bytes between w[j] and w[j+1].
			const m8 = 0x00ff00ff00ff00ff
			w0, w1 = w0&m8|(w1&m8)<<8, (w0>>8)&m8|w1&^m8
			w2, w3 = w2&m8|(w3&m8)<<8, (w2>>8)&m8|w3&^m8
			w4, w5 = w4&m8|(w5&m8)<<8, (w4>>8)&m8|w5&^m8
			w6, w7 = w6&m8|(w7&m8)<<8, (w6>>8)&m8|w7&^m8
			d := r*ldd + c
			le.PutUint64(word(dp, d), w0)
			le.PutUint64(word(dp, d+ldd), w1)
			le.PutUint64(word(dp, d+2*ldd), w2)
			le.PutUint64(word(dp, d+3*ldd), w3)
			le.PutUint64(word(dp, d+4*ldd), w4)
			le.PutUint64(word(dp, d+5*ldd), w5)
			le.PutUint64(word(dp, d+6*ldd), w6)
			le.PutUint64(word(dp, d+7*ldd), w7)
		}
		for c := c8; c < cols; c++ {
			for i, v := range src[c*lds+r : c*lds+r+8] {
				dst[(r+i)*ldd+c] = v
			}
		}
	}
	if r8 < rows {
		transposeU8Go(dst[r8*ldd:], ldd, src[r8:], lds, rows-r8, cols)
	}
}

// transposeU8Go is TransposeU8's definition, element by element (its edge rows, and the tests'
// and benchmark's baseline).
func transposeU8Go(dst []byte, ldd int, src []byte, lds, rows, cols int) {
	for c := 0; c < cols; c++ {
		for r, v := range src[c*lds : c*lds+rows] {
			dst[r*ldd+c] = v
		}
	}
}
