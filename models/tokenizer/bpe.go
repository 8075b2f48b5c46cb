package tokenizer

// The BPE merge loop shared by every tokenizer kind here. Symbols form a linked list over a
// slice; candidate pairs sit in a binary heap ordered by (priority, position), so the pair
// merged next is always the best-ranked one and, among equals, the leftmost — HF tokenizers'
// order for rank-ordered merges, and llama2.c's order (highest score first, leftmost on ties)
// when the priority is the negated score. Stale heap entries are recognised by their ids.

type symbol struct {
	id         int32
	prev, next int32 // -1 at the ends
}

type pairEntry struct {
	prio        float64
	pos         int32 // index of the left symbol
	left, right int32 // ids the entry was made for
	merged      int32 // id of the merged token
}

// pairFunc says whether two adjacent tokens merge, into what, and with what priority (lower
// merges first).
type pairFunc func(left, right int32) (prio float64, merged int32, ok bool)

type pairHeap []pairEntry

func (h pairHeap) less(i, j int) bool {
	if h[i].prio != h[j].prio {
		return h[i].prio < h[j].prio
	}
	return h[i].pos < h[j].pos
}

func (h *pairHeap) push(e pairEntry) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *pairHeap) pop() pairEntry {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && s.less(l, m) {
			m = l
		}
		if r < n && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// bpeMerge merges ids in place by pair and returns the resulting ids (a prefix of ids).
func bpeMerge(ids []int32, pair pairFunc) []int32 {
	n := len(ids)
	if n < 2 {
		return ids
	}
	syms := make([]symbol, n)
	heap := make(pairHeap, 0, n)
	for i, id := range ids {
		syms[i] = symbol{id: id, prev: int32(i - 1), next: int32(i + 1)}
	}
	syms[n-1].next = -1
	tryPush := func(pos int32) {
		next := syms[pos].next
		if pos < 0 || next < 0 {
			return
		}
		l, r := syms[pos].id, syms[next].id
		if prio, m, ok := pair(l, r); ok {
			heap.push(pairEntry{prio: prio, pos: pos, left: l, right: r, merged: m})
		}
	}
	for i := 0; i < n-1; i++ {
		tryPush(int32(i))
	}
	for len(heap) > 0 {
		e := heap.pop()
		s := &syms[e.pos]
		if s.id != e.left || s.next < 0 || syms[s.next].id != e.right {
			continue // stale: one side has merged since
		}
		right := s.next
		s.id = e.merged
		s.next = syms[right].next
		if s.next >= 0 {
			syms[s.next].prev = e.pos
		}
		syms[right].id = -1
		if s.prev >= 0 {
			tryPush(s.prev)
		}
		tryPush(e.pos)
	}
	out := ids[:0]
	for i := int32(0); i >= 0; i = syms[i].next {
		out = append(out, syms[i].id)
	}
	return out
}
