package q

// The pure-Go kernels: the reference every assembly routine is tested against, and the fallback
// (build tag noasm, or RPIQ_KERNELS=generic). Each computes one row block (16 rows).
//
// The hot loop: for each block of B inputs, an exact int32 dot product per row, then one
// float multiply-add for the scale and one for the zero term:
//
//	out[r] += (float32(idot[r])·d)·s[r] − (s·z)[r]·xsum
//
// sm holds the row block's nb metadata records (Matrix.sm: fp16 scales, then zeros).

// dot4Generic: 4-bit codes, one token. w is the row block's codes, sm its scales and zero terms,
// xq/xd the quantized token (see quantizeRow), out 16 results.
func dot4Generic(w []byte, sm []byte, xq []int8, xd []float32, nb, blk int, out []float32) {
	var acc [rows]float32
	steps := blk / 8
	for b := 0; b < nb; b++ {
		var idot [rows]int32
		for j := 0; j < steps; j++ {
			ws := w[(b*steps+j)*64 : (b*steps+j+1)*64]
			xs := xq[b*blk+j*8 : b*blk+j*8+8]
			for r := 0; r < rows; r++ {
				c := ws[r*4 : r*4+4]
				idot[r] += int32(c[0]&15)*int32(xs[0]) + int32(c[1]&15)*int32(xs[1]) +
					int32(c[2]&15)*int32(xs[2]) + int32(c[3]&15)*int32(xs[3]) +
					int32(c[0]>>4)*int32(xs[4]) + int32(c[1]>>4)*int32(xs[5]) +
					int32(c[2]>>4)*int32(xs[6]) + int32(c[3]>>4)*int32(xs[7])
			}
		}
		blockEpilogue(&acc, &idot, sm[b*48:], 4, xd[2*b], xd[2*b+1])
	}
	copy(out, acc[:])
}

// dot8Generic: 8-bit codes, one token.
func dot8Generic(w []byte, sm []byte, xq []int8, xd []float32, nb, blk int, out []float32) {
	var acc [rows]float32
	steps := blk / 4
	for b := 0; b < nb; b++ {
		var idot [rows]int32
		for j := 0; j < steps; j++ {
			ws := w[(b*steps+j)*64 : (b*steps+j+1)*64]
			xs := xq[b*blk+j*4 : b*blk+j*4+4]
			for r := 0; r < rows; r++ {
				c := ws[r*4 : r*4+4]
				idot[r] += int32(c[0])*int32(xs[0]) + int32(c[1])*int32(xs[1]) +
					int32(c[2])*int32(xs[2]) + int32(c[3])*int32(xs[3])
			}
		}
		blockEpilogue(&acc, &idot, sm[b*64:], 8, xd[2*b], xd[2*b+1])
	}
	copy(out, acc[:])
}

// blockEpilogue adds one block's sums; rec is its metadata record for codeBits-wide codes.
func blockEpilogue(acc *[rows]float32, idot *[rows]int32, rec []byte, codeBits int, d, xsum float32) {
	for r := 0; r < rows; r++ {
		s, sz := recScaleZero(rec, codeBits, r)
		acc[r] += (float32(idot[r])*d)*s - sz*xsum
	}
}

// tile4Generic: 4-bit codes, a tile of tileTokens tokens in the tile layout (quantizeTile);
// out is [tileTokens][16].
func tile4Generic(w []byte, sm []byte, tq []int8, td []float32, nb, blk int, out []float32) {
	var acc [tileTokens][rows]float32
	steps := blk / 8
	for b := 0; b < nb; b++ {
		var idot [tileTokens][rows]int32
		for j := 0; j < steps; j++ {
			ws := w[(b*steps+j)*64 : (b*steps+j+1)*64]
			// inputs 8j..8j+3 are word 2j, 8j+4..8j+7 word 2j+1 of the block
			lo := tq[(b*blk/4+2*j)*tileTokens*4:]
			hi := tq[(b*blk/4+2*j+1)*tileTokens*4:]
			for t := 0; t < tileTokens; t++ {
				xl, xh := lo[t*4:t*4+4], hi[t*4:t*4+4]
				for r := 0; r < rows; r++ {
					c := ws[r*4 : r*4+4]
					idot[t][r] += int32(c[0]&15)*int32(xl[0]) + int32(c[1]&15)*int32(xl[1]) +
						int32(c[2]&15)*int32(xl[2]) + int32(c[3]&15)*int32(xl[3]) +
						int32(c[0]>>4)*int32(xh[0]) + int32(c[1]>>4)*int32(xh[1]) +
						int32(c[2]>>4)*int32(xh[2]) + int32(c[3]>>4)*int32(xh[3])
				}
			}
		}
		for t := 0; t < tileTokens; t++ {
			blockEpilogue(&acc[t], &idot[t], sm[b*48:], 4, td[(b*tileTokens+t)*2], td[(b*tileTokens+t)*2+1])
		}
	}
	for t := 0; t < tileTokens; t++ {
		copy(out[t*rows:(t+1)*rows], acc[t][:])
	}
}

// tile8Generic: 8-bit codes, a tile of tokens.
func tile8Generic(w []byte, sm []byte, tq []int8, td []float32, nb, blk int, out []float32) {
	var acc [tileTokens][rows]float32
	steps := blk / 4
	for b := 0; b < nb; b++ {
		var idot [tileTokens][rows]int32
		for j := 0; j < steps; j++ {
			ws := w[(b*steps+j)*64 : (b*steps+j+1)*64]
			xw := tq[(b*blk/4+j)*tileTokens*4:]
			for t := 0; t < tileTokens; t++ {
				x := xw[t*4 : t*4+4]
				for r := 0; r < rows; r++ {
					c := ws[r*4 : r*4+4]
					idot[t][r] += int32(c[0])*int32(x[0]) + int32(c[1])*int32(x[1]) +
						int32(c[2])*int32(x[2]) + int32(c[3])*int32(x[3])
				}
			}
		}
		for t := 0; t < tileTokens; t++ {
			blockEpilogue(&acc[t], &idot[t], sm[b*64:], 8, td[(b*tileTokens+t)*2], td[(b*tileTokens+t)*2+1])
		}
	}
	for t := 0; t < tileTokens; t++ {
		copy(out[t*rows:(t+1)*rows], acc[t][:])
	}
}
