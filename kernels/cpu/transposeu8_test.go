package cpu

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TransposeU8 against the double loop written out here, on every shape up to 70×70 in steps
// that leave row and column edges around the 8×8 blocks (and the 64×128 tile), with strides
// larger than the extent; bytes outside the rows' cols, and past the end of dst, are untouched.
func TestTransposeU8(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	shapes := [][2]int{{64, 128}, {128, 64}, {8, 8}, {16, 200}}
	for rows := 1; rows <= 70; rows += 1 + rng.IntN(3) {
		for cols := 1; cols <= 70; cols += 1 + rng.IntN(3) {
			shapes = append(shapes, [2]int{rows, cols})
		}
	}
	for _, sh := range shapes {
		rows, cols := sh[0], sh[1]
		lds, ldd := rows+[]int{0, 1, 9}[rng.IntN(3)], cols+[]int{0, 3, 64}[rng.IntN(3)]
		src := make([]byte, (cols-1)*lds+rows) // the last column exactly rows long
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		buf := make([]byte, (rows-1)*ldd+cols+16) // dst and 16 bytes after it that must stay
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		want := append([]byte(nil), buf...)
		dst := buf[:len(buf)-16]
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				want[r*ldd+c] = src[c*lds+r]
			}
		}
		TransposeU8(dst, ldd, src, lds, rows, cols)
		for i := range buf {
			if buf[i] != want[i] {
				t.Fatalf("%d×%d lds %d ldd %d: dst[%d][%d] = %d, want %d", rows, cols, lds, ldd, i/ldd, i%ldd, buf[i], want[i])
			}
		}
	}
}

func TestTransposeU8Panics(t *testing.T) {
	for _, tc := range []struct {
		dst, ldd, src, lds, rows, cols int
		want                           string
	}{
		{64 * 128, 128, 64*128 - 1, 64, 64, 128, "len(src)"},
		{63*128 + 127, 128, 64 * 128, 64, 64, 128, "len(dst)"},
		{64 * 128, 127, 64 * 128, 64, 64, 128, "overlap"},
		{64 * 128, 128, 64 * 128, 63, 64, 128, "overlap"},
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), tc.want) {
					t.Errorf("%+v: panic %v, want one naming %q", tc, r, tc.want)
				}
			}()
			TransposeU8(make([]byte, tc.dst), tc.ldd, make([]byte, tc.src), tc.lds, tc.rows, tc.cols)
		}()
	}
	TransposeU8(nil, 0, nil, 0, 0, 5) // nothing to do
}

// BenchmarkTransposeU8 writes a 64-row × 128-column tile of codes, column-major, into the rows
// of a code matrix (ldd 4096, a row per page as in a 4096-column layer, and ldd 128, the tile
// alone): the 8×8 blocks against the element-by-element loop in either order (columns outer
// reads src in order and writes dst a row apart each byte; rows outer the other way round).
// go test -run X -bench TransposeU8 ./kernels/cpu
func BenchmarkTransposeU8(b *testing.B) {
	const rows, cols = 64, 128
	rowsOuter := func(dst []byte, ldd int, src []byte, lds, rows, cols int) {
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				dst[r*ldd+c] = src[c*lds+r]
			}
		}
	}
	for _, ldd := range []int{4096, 128} {
		src, dst := make([]byte, rows*cols), make([]byte, rows*ldd)
		for i := range src {
			src[i] = byte(i * 7)
		}
		for _, f := range []struct {
			name string
			f    func(dst []byte, ldd int, src []byte, lds, rows, cols int)
		}{{"blocks", TransposeU8}, {"naive-cols-outer", transposeU8Go}, {"naive-rows-outer", rowsOuter}} {
			b.Run(fmt.Sprintf("ldd%d/%s", ldd, f.name), func(b *testing.B) {
				for b.Loop() {
					f.f(dst, ldd, src, rows, rows, cols)
				}
				b.ReportMetric(float64(rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}
