package quant

import "fmt"

// RTN rounds every weight to the nearest point of its group's min-max grid: the baseline GPTQ
// is measured against. Groups run along the input dimension as in GPTQ; act-order is ignored.
func RTN(w []float64, m, n int, cfg Config) (*Quantized, error) {
	if err := cfg.validate(n); err != nil {
		return nil, err
	}
	if len(w) != m*n {
		return nil, fmt.Errorf("quant: RTN got %d weights, want %d×%d", len(w), m, n)
	}
	if err := checkFinite("weight", w); err != nil {
		return nil, err
	}
	cfg.ActOrder, cfg.StaticGroups = false, false
	q := newQuantized(m, n, cfg, nil)
	q.Perm = identity(n)
	gs := cfg.groupSize(n)
	g := cfg.Grid
	for gi := 0; gi*gs < n; gi++ {
		c0, c1 := gi*gs, min(gi*gs+gs, n)
		for r := 0; r < m; r++ {
			s, z := g.Params(w[r*n+c0 : r*n+c1])
			q.Scales[gi*m+r], q.Zeros[gi*m+r] = s, z
			for c := c0; c < c1; c++ {
				q.Codes[r*n+c] = uint8(g.Code(w[r*n+c], s, z))
			}
		}
	}
	setGIdx(q, cfg, q.Perm, gs)
	return q, nil
}
