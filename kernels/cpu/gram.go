package cpu

// Calibration's Gram products (GPTQ's Hessian XᵀX and the FP-target cross term X̃ᵀX) straight
// from token-major activations, added to a float64 sum. Each worker packs an L2-sized block of
// columns into 16-column panels ([t][16], a copy of 16 consecutive values per token) once, and
// runs the 6×32 (AVX-512) or 6×16 micro-kernel over every six rows against it; the rows are
// packed six values per token ([t][6]) once per call. The micro-kernel sums each tile over the
// tokens in float32 and adds it, widened, to the float64 sum: no transposed copy of the
// activations, no float32 product matrix written and read back.

// gramPanelBytes is the size of one worker's packed block of columns.
const gramPanelBytes = 256 << 10

// GramAddF64 sets sum[i·lds + j] += Σ_t a[t·ld + i]·b[t·ld + j] for i, j < n: a and b are
// T tokens of ld ≥ n features each; every dot product is summed in float32 over t = 0, 1, ...
// in order (one FMA per token where the CPU has FMA), then widened and added to the sum once.
// The bits do not depend on the pool's size. With upper only the tiles that reach the diagonal
// or lie right of it are computed: every entry i ≤ j is added, and some just below the
// diagonal are too.
func (p *Pool) GramAddF64(sum []float64, lds int, a, b []float32, ld, T, n int, upper bool) {
	if n <= 0 || T <= 0 {
		return
	}
	_ = a[(T-1)*ld+n-1]
	_ = b[(T-1)*ld+n-1]
	_ = sum[(n-1)*lds+n-1]
	groups := (n + 5) / 6
	paBuf := scratch.Get().(*[]float32)
	defer scratch.Put(paBuf)
	if cap(*paBuf) < groups*6*T {
		*paBuf = make([]float32, groups*6*T)
	}
	pa := (*paBuf)[:groups*6*T]
	p.Run(groups, 8, func(lo, hi int) { packGramRows(pa, a, ld, T, n, lo, hi) })
	cb := max(32, gramPanelBytes/(4*T)&^31) // columns per block
	blocks := (n + cb - 1) / cb
	p.Share(blocks, 1, func(lo, hi int) {
		buf := scratch.Get().(*[]float32)
		if cap(*buf) < cb*T {
			*buf = make([]float32, cb*T)
		}
		for k := lo; k < hi; k++ {
			// the widest blocks of the upper triangle first, the narrow ones fill in after
			bi := k
			if upper {
				bi = blocks - 1 - k
			}
			j0 := bi * cb
			j1 := min(j0+cb, n)
			panels := (j1 - j0 + 15) / 16
			pb := (*buf)[:panels*16*T]
			packGramCols(pb, b, ld, T, j0, j1)
			var tmp [6 * 32]float64 // edge tiles
			gEnd := groups
			if upper {
				gEnd = min(groups, (j1+5)/6)
			}
			for g := 0; g < gEnd; g++ {
				gramRowGroup(sum, lds, pa[g*6*T:(g+1)*6*T], pb, T, n, g*6, j0, j1, upper, &tmp)
			}
		}
		scratch.Put(buf)
	})
}

// gramRowGroup adds the tiles of rows i0..i0+5 against columns j0..j1 (packed in pb).
func gramRowGroup(sum []float64, lds int, pa, pb []float32, T, n, i0, j0, j1 int, upper bool, tmp *[6 * 32]float64) {
	for j := j0; j < j1; {
		w := 16
		if hasGEMM6x32 && j+16 < j1 {
			w = 32
		}
		q := (j - j0) / 16
		if upper && i0 > j+w-1 { // every row of the tile is below the diagonal
			j += w
			continue
		}
		full := i0+6 <= n && j+w <= n
		c, ldc := sum[i0*lds+j:], lds
		if !full {
			clear(tmp[:])
			c, ldc = tmp[:], 32
		}
		if w == 32 {
			gram6x32(pa, pb[q*16*T:(q+1)*16*T], pb[(q+1)*16*T:(q+2)*16*T], T, c, ldc)
		} else {
			gram6x16(pa, pb[q*16*T:(q+1)*16*T], T, c, ldc)
		}
		if !full { // 0 + v is v: the same sum as adding in place
			for r := 0; r < min(6, n-i0); r++ {
				row := sum[(i0+r)*lds:]
				for k := 0; k < min(w, n-j); k++ {
					row[j+k] += tmp[r*32+k]
				}
			}
		}
		j += w
	}
}

// packGramRows packs rows (features) 6·lo .. 6·hi of a as [t][6] panels, zero past n: eight
// panels at a time, so that each token's 48 values are read from one stretch of its row.
func packGramRows(pa, a []float32, ld, T, n, lo, hi int) {
	for g0 := lo; g0 < hi; g0 += 8 {
		g1 := min(g0+8, hi, n/6) // whole panels
		for t := 0; t < T; t++ {
			row := a[t*ld:]
			for g := g0; g < g1; g++ {
				*(*[6]float32)(pa[g*6*T+t*6:]) = [6]float32(row[g*6:])
			}
		}
		for g := max(g1, g0); g < min(g0+8, hi); g++ { // the last panel, past n
			for t := 0; t < T; t++ {
				for r := 0; r < 6; r++ {
					v := float32(0)
					if g*6+r < n {
						v = a[t*ld+g*6+r]
					}
					pa[g*6*T+t*6+r] = v
				}
			}
		}
	}
}

// packGramCols packs columns j0..j1 of b as [t][16] panels, zero past j1.
func packGramCols(pb, b []float32, ld, T, j0, j1 int) {
	panels := (j1 - j0 + 15) / 16
	for t := 0; t < T; t++ {
		row := b[t*ld : t*ld+j1]
		for q := 0; q < panels; q++ {
			dst := pb[q*16*T+t*16 : q*16*T+t*16+16]
			c0 := j0 + q*16
			if c0+16 <= j1 {
				*(*[16]float32)(dst) = [16]float32(row[c0:])
				continue
			}
			k := copy(dst, row[c0:j1])
			clear(dst[k:])
		}
	}
}

// gram6x16Go is the micro-kernel in Go (other architectures, noasm, no FMA).
func gram6x16Go(a, b []float32, k int, c []float64, ldc int) {
	var acc [6][16]float32
	for t := 0; t < k; t++ {
		bt := b[t*16 : t*16+16 : t*16+16]
		for r := 0; r < 6; r++ {
			av := a[t*6+r]
			row := &acc[r]
			for j := range row {
				row[j] += av * bt[j]
			}
		}
	}
	for r := 0; r < 6; r++ {
		for j, v := range acc[r] {
			c[r*ldc+j] += float64(v)
		}
	}
}
