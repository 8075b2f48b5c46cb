package q

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/rpiq/rpiq/kernels/cpu"
	"github.com/rpiq/rpiq/kernels/half"
)

// The error bound every variant must meet, per output row n and token, against the float64
// product of the GPTQ-dequantized weight w and the float32 input x:
//
//	|y[n] − Σ_k w[n,k]·x[k]| ≤ Σ_k |w[n,k]|·(d_b(k)/2 + 4u·|x[k]|)          (8-bit activations)
//	                        + (2·nb + 8)·u·Σ_b (|s|·d_b·Σ_k∈b |q·xq| + |s·z|·d_b·Σ_k∈b |xq|)  (float32)
//
// with u = 2^-24. The first term is exact algebra: the integer dot products are exact, so the
// kernels compute Σ_k w[n,k]·d_b·xq[k] up to float rounding, and |x − d·xq| ≤ d/2 + 4u|x| (act.go).
// The second bounds the rounding of the block epilogue: each of the 2·nb terms is formed with at
// most 4 roundings and summed with at most 2·nb − 1 more (recursive summation); the +8 leaves room
// for a rounded s·z, although the kernels' s·z (an fp16 scale times an integer zero) is exact.
const u = 1.0 / (1 << 24)

// bounds returns, per row, the float64 reference and the allowed error for one token.
func bounds(t *testing.T, m *Matrix, g *gptqLayer, w64 []float64, x []float32) (ref, tol []float64) {
	t.Helper()
	xq := make([]int8, m.kp)
	xd := make([]float32, 2*m.nb)
	quantizeRow(xq, xd, x, m.src, m.blk)
	pos := make([]int, m.In) // original input → padded position
	for p := 0; p < m.kp; p++ {
		k := p
		if m.src != nil {
			k = int(m.src[p])
		}
		if k >= 0 && k < m.In {
			pos[k] = p
		}
	}
	ref = make([]float64, m.Out)
	tol = make([]float64, m.Out)
	for n := 0; n < m.Out; n++ {
		var r, act float64
		for k := 0; k < m.In; k++ {
			wk := w64[n*m.In+k]
			r += wk * float64(x[k])
			d := float64(xd[2*(pos[k]/m.blk)])
			act += math.Abs(wk) * (d/2 + 4*u*math.Abs(float64(x[k])))
		}
		rb, row := n/rows, n%rows
		var a float64
		for b := 0; b < m.nb; b++ {
			s, sz := m.scaleZero(rb, b, row)
			var qx, sx float64
			for p := b * m.blk; p < (b+1)*m.blk; p++ {
				qx += math.Abs(float64(m.code(n, p)) * float64(xq[p]))
				sx += math.Abs(float64(xq[p]))
			}
			d := float64(xd[2*b])
			a += math.Abs(float64(s))*d*qx + math.Abs(float64(sz))*d*sx
		}
		ref[n] = r
		tol[n] = act + float64(2*m.nb+8)*u*a
	}
	return ref, tol
}

// check compares y (tokens × Out) with the reference and returns the first violation.
func check(t *testing.T, m *Matrix, g *gptqLayer, x, y []float32, tokens int) error {
	t.Helper()
	w64 := g.weight64()
	for tok := 0; tok < tokens; tok++ {
		xt := x[tok*m.In : (tok+1)*m.In]
		ref, tol := bounds(t, m, g, w64, xt)
		var tolSum, l1Sum float64
		for n := 0; n < m.Out; n++ {
			got := float64(y[tok*m.Out+n])
			if e := math.Abs(got - ref[n]); !(e <= tol[n]) {
				return fmt.Errorf("token %d row %d: got %.7g, float64 reference %.7g, error %.3g > bound %.3g", tok, n, got, ref[n], e, tol[n])
			}
			var l1 float64
			for k := 0; k < m.In; k++ {
				l1 += math.Abs(w64[n*m.In+k] * float64(xt[k]))
			}
			tolSum += tol[n]
			l1Sum += l1
		}
		// The bound must be a real constraint: under 8% of Σ|w·x| over the rows (blocks with an 8×
		// outlier have d/2 ≈ max/254, several percent of a typical |x|).
		if mag := tolSum / l1Sum; mag > 0.08 {
			return fmt.Errorf("token %d: bound is %.3g of Σ|w·x|, too loose to test anything", tok, mag)
		}
	}
	return nil
}

type layerCase struct {
	in, out, bits, group int
	actOrder, asym, v1   bool
}

func (c layerCase) String() string {
	return fmt.Sprintf("in%d_out%d_b%d_g%d_act%v_asym%v_v1%v", c.in, c.out, c.bits, c.group, c.actOrder, c.asym, c.v1)
}

// awkward covers: K not a multiple of the block (200, 100, 333), 1 and 3 rows, row counts that
// are not multiples of 16, odd group counts, per-channel (-1), small groups (32, 48), act-order,
// sym and asym, v1 and v2 zeros, 2/3/4/8 bits.
func awkward() []layerCase {
	var cs []layerCase
	for _, bits := range []int{4, 8, 2, 3} {
		cs = append(cs,
			layerCase{200, 37, bits, 128, false, true, false}, // 2 groups, K%128 != 0
			layerCase{384, 3, bits, 128, true, true, true},    // 3 groups (odd), act-order, 3 rows
			layerCase{333, 1, bits, -1, false, false, true},   // per-channel, 1 row, K odd
			layerCase{100, 17, bits, 32, true, false, false},  // 4 groups, last one partial
			layerCase{144, 16, bits, 48, false, true, true},   // group not a power of two
			layerCase{512, 20, bits, 256, true, true, false},  // group > block
		)
	}
	return cs
}

func randInput(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
		if rng.IntN(50) == 0 {
			x[i] *= 8 // outliers, as real activations have
		}
	}
	return x
}

func TestKernelsMatchFloat64Reference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, c := range awkward() {
		g := randomGPTQ(rng, c.in, c.out, c.bits, c.group, c.actOrder, c.asym, c.v1)
		m, err := g.repack()
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		// Every variant gets the same inputs, so the draw does not depend on which variants this
		// machine has: a machine with AVX-512 tests its generic kernel on the same data as one without.
		for _, tokens := range []int{1, 3, 4, 9} {
			x := randInput(rng, tokens*c.in)
			for _, name := range Kernels() {
				y := make([]float32, tokens*c.out)
				m.matMul(lookup(name), y, x, tokens)
				if err := check(t, m, g, x, y, tokens); err != nil {
					t.Errorf("%s %v tokens=%d: %v", name, c, tokens, err)
				}
			}
		}
	}
}

// TestCheckCatchesWrongKernel makes sure the bound check is not vacuous: a kernel that swaps the
// two nibbles of every byte must be reported.
func TestCheckCatchesWrongKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	g := randomGPTQ(rng, 256, 32, 4, 128, false, true, false)
	m, err := g.repack()
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range m.w {
		m.w[i] = b<<4 | b>>4
	}
	x := randInput(rng, m.In)
	y := make([]float32, m.Out)
	m.matMul(generic, y, x, 1)
	if check(t, m, g, x, y, 1) == nil {
		t.Fatal("nibble-swapped weights passed the reference check")
	}
}

func TestVariantsAgreeWithGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, name := range Kernels() {
		if err := selfCheck(lookup(name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	_ = rng
}

func TestDequantizeMatchesGPTQFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, c := range awkward() {
		g := randomGPTQ(rng, c.in, c.out, c.bits, c.group, c.actOrder, c.asym, c.v1)
		m, err := g.repack()
		if err != nil {
			t.Fatal(err)
		}
		w := m.Dequantize()
		w64 := g.weight64()
		for i := range w {
			n, k := i/c.in, i%c.in
			gi := g.groupOf(k)
			s := float64(half.F16ToF32(g.scales[gi*c.out+n]))
			// s·q exact in float32 (11-bit s × ≤8-bit q), s·z rounded once, the difference once.
			if e := math.Abs(float64(w[i]) - w64[i]); e > 4*u*s*512 {
				t.Fatalf("%v: w[%d][%d] = %v, want %v", c, n, k, w[i], w64[i])
			}
		}
	}
}

func TestMatVecMatMulPublicAPI(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	g := randomGPTQ(rng, 256, 48, 4, 128, false, true, false)
	m, err := g.repack()
	if err != nil {
		t.Fatal(err)
	}
	x := randInput(rng, 5*256)
	y := make([]float32, 5*48)
	m.MatMul(y, x, 5)
	if err := check(t, m, g, x, y, 5); err != nil {
		t.Fatal(err)
	}
	p := cpu.NewPool(3)
	defer p.Close()
	y3 := make([]float32, 5*48)
	m.MatMulOn(p, y3, x, 5)
	for i := range y {
		if y3[i] != y[i] {
			t.Fatalf("MatMulOn with 3 workers: y[%d] = %v, MatMul gives %v", i, y3[i], y[i])
		}
	}
	w := m.Dequantize()
	row := make([]float32, 256)
	m.Row(row, 47)
	for k := range row {
		if row[k] != w[47*256+k] {
			t.Fatalf("Row(47)[%d] = %v, Dequantize gives %v", k, row[k], w[47*256+k])
		}
	}
	y1 := make([]float32, 48)
	m.MatVec(y1, x[256:512])
	if err := check(t, m, g, x[256:512], y1, 1); err != nil {
		t.Fatal(err)
	}
}

func TestBytesStayPacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	g := randomGPTQ(rng, 4096, 256, 4, 128, false, true, false)
	m, err := g.repack()
	if err != nil {
		t.Fatal(err)
	}
	bpw := float64(8*m.Bytes()) / float64(m.In*m.Out)
	if bpw > 4.51 {
		t.Fatalf("%.3f bits per weight at group 128, want ≤ 4.5", bpw)
	}
	g8 := randomGPTQ(rng, 4096, 256, 8, 128, false, true, false)
	m8, _ := g8.repack()
	if bpw := float64(8*m8.Bytes()) / float64(m8.In*m8.Out); bpw > 8.51 {
		t.Fatalf("8-bit: %.3f bits per weight, want ≤ 8.5", bpw)
	}
}

func TestRepackRejectsBadTensors(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	g := randomGPTQ(rng, 256, 32, 4, 128, false, true, false)
	cases := []struct {
		name string
		f    func() (*Matrix, error)
	}{
		{"bits", func() (*Matrix, error) {
			return RepackGPTQ(g.qweight, g.qzeros, g.scales, nil, 256, 32, 5, 128, false, false)
		}},
		{"qweight", func() (*Matrix, error) {
			return RepackGPTQ(g.qweight[1:], g.qzeros, g.scales, nil, 256, 32, 4, 128, false, false)
		}},
		{"qzeros", func() (*Matrix, error) {
			return RepackGPTQ(g.qweight, g.qzeros[1:], g.scales, nil, 256, 32, 4, 128, false, false)
		}},
		{"scales", func() (*Matrix, error) {
			return RepackGPTQ(g.qweight, g.qzeros, g.scales[:10], nil, 256, 32, 4, 128, false, false)
		}},
		{"g_idx length", func() (*Matrix, error) {
			return RepackGPTQ(g.qweight, g.qzeros, g.scales, make([]int32, 5), 256, 32, 4, 128, false, false)
		}},
		{"g_idx range", func() (*Matrix, error) {
			gi := make([]int32, 256)
			gi[7] = 2
			return RepackGPTQ(g.qweight, g.qzeros, g.scales, gi, 256, 32, 4, 128, false, false)
		}},
		{"asym without zeros", func() (*Matrix, error) {
			return RepackGPTQ(g.qweight, nil, g.scales, nil, 256, 32, 4, 128, false, false)
		}},
		{"shape", func() (*Matrix, error) {
			return RepackGPTQ(g.qweight, g.qzeros, g.scales, nil, 0, 32, 4, 128, false, false)
		}},
		{"nan scale", func() (*Matrix, error) {
			s := append([]uint16(nil), g.scales...)
			s[3] = 0x7e00
			return RepackGPTQ(g.qweight, g.qzeros, s, nil, 256, 32, 4, 128, false, false)
		}},
	}
	for _, c := range cases {
		if _, err := c.f(); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err = %v, want ErrFormat", c.name, err)
		}
	}
}

// FuzzRepackGPTQ: arbitrary shapes and tensor contents give an error or a matrix, never a panic,
// and a matrix always multiplies.
func FuzzRepackGPTQ(f *testing.F) {
	f.Add(uint16(64), uint16(16), uint8(4), int16(32), false, false, []byte{1, 2, 3})
	f.Add(uint16(100), uint16(3), uint8(3), int16(-1), true, true, []byte{0xff, 0, 7})
	f.Add(uint16(9), uint16(1), uint8(8), int16(4), false, true, []byte{})
	f.Fuzz(func(t *testing.T, in, out uint16, bits uint8, group int16, sym, v1 bool, data []byte) {
		if in > 600 || out > 64 {
			return
		}
		nin, nout, gs := int(in), int(out), int(group)
		groups := 1
		if gs > 0 {
			groups = ceilDiv(max(nin, 1), gs)
		}
		if groups > 1000 {
			return
		}
		b := int(bits)
		if b < 1 || b > 8 {
			b = 4
		}
		next := func(i int) byte {
			if len(data) == 0 {
				return 0
			}
			return data[i%len(data)]
		}
		qw := make([]int32, ceilDiv(nin*b, 32)*nout+int(next(0)%2))
		for i := range qw {
			qw[i] = int32(next(i)) * 0x01010101
		}
		qz := make([]int32, groups*ceilDiv(nout*b, 32))
		for i := range qz {
			qz[i] = int32(next(i + 1))
		}
		sc := make([]uint16, groups*nout)
		for i := range sc {
			sc[i] = uint16(next(i+2)) << 6
		}
		var gi []int32
		if next(3)%2 == 1 {
			gi = make([]int32, nin)
			for i := range gi {
				gi[i] = int32(next(i+4)) % int32(groups+1)
			}
		}
		m, err := RepackGPTQ(qw, qz, sc, gi, nin, nout, b, gs, sym, v1)
		if err != nil {
			return
		}
		x := make([]float32, 2*nin)
		for i := range x {
			x[i] = float32(int(next(i))-128) / 32
		}
		y := make([]float32, 2*nout)
		m.MatMul(y, x, 2)
		m.MatVec(y[:nout], x[:nin])
	})
}

// TestExpectedKernels: RPIQ_EXPECT_KERNELS=neon (CI's QEMU run) or avx2,avx512 makes a missing
// variant a failure instead of a silent fallback to generic.
func TestExpectedKernels(t *testing.T) {
	t.Logf("variants here: %v, active: %s", Kernels(), Active())
	for _, want := range strings.Split(os.Getenv("RPIQ_EXPECT_KERNELS"), ",") {
		if want != "" && lookup(want) == nil {
			t.Errorf("RPIQ_EXPECT_KERNELS wants %q, this machine/build has %v", want, Kernels())
		}
	}
}

// TestPackWordsEqualsPackCodes: the word-at-a-time repack of in-order 4/8-bit layers writes the
// same bytes as the code-by-code one.
func TestPackWordsEqualsPackCodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	for _, bits := range []int{4, 8} {
		g := randomGPTQ(rng, 200, 37, bits, 128, false, true, false)
		m, err := g.repack()
		if err != nil {
			t.Fatal(err)
		}
		if m.src != nil {
			t.Fatal("expected the identity order")
		}
		fast := m.w
		m.w = alignedBytes(len(fast))
		src := make([]int32, m.kp)
		for p := range src {
			src[p] = int32(p)
			if p >= m.In {
				src[p] = -1
			}
		}
		for n := 0; n < m.Out; n++ {
			m.packCodes(g.qweight, src, n)
		}
		for i := range fast {
			if fast[i] != m.w[i] {
				t.Fatalf("%d-bit: byte %d = %#x word-wise, %#x code-wise", bits, i, fast[i], m.w[i])
			}
		}
	}
}

// TestQuantizeFastMatchesGo: the assembly activation quantizer (where there is one) gives the
// same codes, d and xsum as quantizeBlock, bit for bit, including an all-zero block and a
// zero-padded tail.
func TestQuantizeFastMatchesGo(t *testing.T) {
	if quantizeFast == nil {
		t.Skip("no assembly quantizer on this architecture/build")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	for _, blk := range []int{8, 40, 128} {
		for _, n := range []int{blk, 5 * blk, 5*blk - 3} {
			x := randInput(rng, n)
			for i := blk; i < 2*blk && i < n; i++ {
				x[i] = 0 // an all-zero block
			}
			x[0] = float32(math.Copysign(0, -1))
			nb := ceilDiv(n, blk)
			q1, q2 := make([]int8, nb*blk), make([]int8, nb*blk)
			d1, d2 := make([]float32, 2*nb), make([]float32, 2*nb)
			quantizeRow(q1, d1, x, nil, blk)
			v := make([]float32, blk)
			for b := 0; b < nb; b++ {
				gatherBlock(v, x, nil, b, blk)
				d2[2*b], d2[2*b+1] = quantizeBlock(q2[b*blk:(b+1)*blk], v)
			}
			for i := range q1 {
				if q1[i] != q2[i] {
					t.Fatalf("blk %d n %d: code %d = %d, Go gives %d", blk, n, i, q1[i], q2[i])
				}
			}
			for i := range d1 {
				if math.Float32bits(d1[i]) != math.Float32bits(d2[i]) {
					t.Fatalf("blk %d n %d: d/xsum %d = %v, Go gives %v", blk, n, i, d1[i], d2[i])
				}
			}
		}
	}
}

// TestFromRows: every weight of a FromRows matrix is within s/2 of the original (round to
// nearest on a grid of step s = (max−min)/(2^bits−1) per group), and its products meet the same
// derived float64 bound as the GPTQ kernels, for every variant.
func TestFromRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct{ in, out, bits, group int }{
		{2048, 37, 8, -1}, {200, 33, 8, -1}, {64, 16, 4, 32}, {256, 19, 4, 32}, {96, 5, 8, 32}, {384, 17, 4, 128}, {64, 3, 4, -1},
	} {
		w := make([]float32, c.out*c.in)
		for i := range w {
			w[i] = float32(rng.NormFloat64() * 0.02)
		}
		w[3] = 0.5 // an outlier
		read := 0
		m, err := FromRows(c.in, c.out, c.bits, c.group, func(dst []float32, n int) { copy(dst, w[n*c.in:(n+1)*c.in]) }, cpu.NewPool(2),
			func(lo, hi int) {
				if lo != read || hi <= lo {
					t.Errorf("%+v: done(%d, %d) after rows 0..%d", c, lo, hi, read)
				}
				read = hi
			})
		if err != nil {
			t.Fatal(err)
		}
		if read != c.out {
			t.Errorf("%+v: done reported rows up to %d of %d", c, read, c.out)
		}
		gs := c.group
		if gs < 0 {
			gs = c.in
		}
		deq := m.Dequantize()
		w64 := make([]float64, len(deq))
		for n := 0; n < c.out; n++ {
			for g0 := 0; g0 < c.in; g0 += gs {
				lo, hi := math.Inf(1), math.Inf(-1)
				for _, v := range w[n*c.in+g0 : n*c.in+g0+gs] {
					lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
				}
				// the stored scale: fp16, at or above the range's step, within one fp16 ulp of it
				step := (hi - lo) / float64(int(1)<<c.bits-1)
				sf, _ := m.scaleZero(n/rows, g0/m.blk, n%rows)
				s16 := float64(sf)
				if float64(half.F16ToF32(half.F32ToF16(sf))) != s16 || s16 < step || s16 > step*(1+1.0/1024)+1.0/(1<<24) {
					t.Fatalf("%+v: row %d group at %d: scale %g for a step of %g", c, n, g0, s16, step)
				}
				for k := g0; k < g0+gs; k++ {
					i := n*c.in + k
					if e := math.Abs(float64(deq[i]) - float64(w[i])); e > s16/2*(1+1e-5)+1e-9 {
						t.Fatalf("%+v: w[%d][%d] = %g dequantizes to %g, error %g > s/2 = %g", c, n, k, w[i], deq[i], e, s16/2)
					}
				}
			}
		}
		for i, v := range deq {
			w64[i] = float64(v)
		}
		x := randInput(rng, c.in)
		for _, name := range Kernels() {
			y := make([]float32, c.out)
			m.matMul(lookup(name), y, x, 1)
			ref, tol := bounds(t, m, nil, w64, x)
			for n := range y {
				if e := math.Abs(float64(y[n]) - ref[n]); !(e <= tol[n]) {
					t.Errorf("%s %+v row %d: got %g, float64 reference %g, error %g > bound %g", name, c, n, y[n], ref[n], e, tol[n])
				}
			}
		}
	}
	if _, err := FromRows(100, 4, 4, 32, nil, nil, nil); err == nil {
		t.Error("group 32 that does not divide 100 was accepted")
	}
}
