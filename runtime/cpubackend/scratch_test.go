package cpubackend

import "testing"

// Scratch tensors are zeroed, do not overlap within a scope, sit on 64-byte lines, and the
// slab is reused by the next scope (after it grew to the first scope's needs).
func TestScratchTensors(t *testing.T) {
	c := New(1)
	sizes := [][2]int{{3, 5}, {1, 1}, {64, 17}, {0, 4}, {7, 9}}
	for scope := range 3 {
		c.BeginScratch()
		var ts []*Tensor
		for _, sz := range sizes {
			x := c.NewTensor(sz[0], sz[1]).(*Tensor)
			if len(x.Data) != sz[0]*sz[1] || x.Rows() != sz[0] || x.Cols() != sz[1] {
				t.Fatalf("scope %d: %d×%d tensor has %d values", scope, sz[0], sz[1], len(x.Data))
			}
			for i, v := range x.Data {
				if v != 0 {
					t.Fatalf("scope %d: %d×%d tensor value %d is %v, want 0", scope, sz[0], sz[1], i, v)
				}
			}
			ts = append(ts, x)
		}
		kc := c.NewCache(2, 8, 4).(*cache)
		for _, x := range ts { // fill each with its own mark, then check none was overwritten
			for i := range x.Data {
				x.Data[i] = float32(len(x.Data))
			}
		}
		for _, l := range append(kc.k, kc.v...) {
			if len(l) != 32 {
				t.Fatalf("cache layer of %d values, want 32", len(l))
			}
			for i := range l {
				if l[i] != 0 {
					t.Fatalf("cache not zeroed")
				}
				l[i] = -1
			}
		}
		for _, x := range ts {
			for _, v := range x.Data {
				if v != float32(len(x.Data)) {
					t.Fatalf("scope %d: tensors overlap", scope)
				}
			}
		}
		c.EndScratch()
		if scope > 0 && c.scratch.need != 0 {
			t.Fatal("scope state not reset")
		}
	}
	if len(c.scratch.buf) == 0 {
		t.Fatal("no slab kept after the scopes")
	}
	// out of scratch mode: ordinary allocations
	x := c.NewTensor(2, 2).(*Tensor)
	c.BeginScratch()
	y := c.NewTensor(2, 2).(*Tensor)
	c.EndScratch()
	if &x.Data[0] == &y.Data[0] {
		t.Fatal("a tensor made outside scratch mode came from the slab")
	}
}
