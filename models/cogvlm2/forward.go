package cogvlm2

import (
	"fmt"

	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/nn"
)

// PositionIDs is build_position_ids (reference §1.5) over token types tt: every image token
// between boi and eoi shares one position, boi and eoi get their own, text counts up.
// [BOS, boi, p…, eoi, text…] → [0, 1, 2, 2, …, 2, 3, 4, …].
func PositionIDs(tt []int) []int32 {
	n := len(tt)
	pos := make([]int32, n)
	lang := func(i int) bool {
		if tt[i] != VisionTokenType {
			return true
		}
		// boi and eoi (the first and last vision token of a run) count as language.
		return i == 0 || tt[i-1] != VisionTokenType || i == n-1 || tt[i+1] != VisionTokenType
	}
	for i := 1; i < n; i++ {
		step := lang(i) || (tt[i] == VisionTokenType && lang(i-1))
		pos[i] = pos[i-1]
		if step {
			pos[i]++
		}
	}
	return pos
}

// VisionExpert is get_expert_mask: token i uses the vision expert only when it and the next
// token are both vision tokens, so boi and the patches do and eoi does not (§0.2). The last
// token of tt has no next token and uses the language expert.
func VisionExpert(tt []int) []bool {
	m := make([]bool, len(tt))
	for i := 0; i+1 < len(tt); i++ {
		m[i] = tt[i] == VisionTokenType && tt[i+1] == VisionTokenType
	}
	return m
}

// Sequence is one conversation's state: the KV cache and the token types and positions of
// everything already run.
type Sequence struct {
	Cache backend.Cache
	types []int
	pos   []int32
}

// NewSequence returns an empty sequence with room for maxSeq tokens.
func (m *Model) NewSequence(maxSeq int) *Sequence {
	return &Sequence{Cache: m.be.NewCache(len(m.layers), maxSeq, m.attn.KVHeads*m.attn.HeadDim)}
}

// Len is the number of tokens run so far. A Sequence is a backend.Cache (Len, Cap, SetLen), so
// VLM.NewCache can hand it to architecture-blind callers.
func (s *Sequence) Len() int { return len(s.types) }

// Cap is the number of tokens the cache has room for.
func (s *Sequence) Cap() int { return s.Cache.Cap() }

// SetLen forgets everything after the first n tokens (n ≤ Len()).
func (s *Sequence) SetLen(n int) {
	n = max(0, min(n, len(s.types)))
	s.types, s.pos = s.types[:n], s.pos[:n]
	s.Cache.SetLen(n)
}

// Positions are the position ids of the tokens run so far.
func (s *Sequence) Positions() []int32 { return s.pos }

// Input is a chunk of tokens to run: ids with their token types; the vision tokens (one
// contiguous run) take their embeddings from Image's rows instead of the embedding table.
type Input struct {
	IDs   []int32
	Types []int
	Image backend.Tensor // rows = number of vision tokens in Types; nil when there are none
}

// BuildInput lays out a prompt as the reference does (§1.6): [BOS], then imageTokens
// placeholder ids (128002) of vision type when there is an image, then the text ids.
func BuildInput(bos int32, imageTokens int, text []int32) ([]int32, []int) {
	ids := []int32{bos}
	tt := []int{LanguageTokenType}
	for range imageTokens {
		ids = append(ids, PadTokenID)
		tt = append(tt, VisionTokenType)
	}
	for _, id := range text {
		ids = append(ids, id)
		tt = append(tt, LanguageTokenType)
	}
	return ids, tt
}

// PromptText is _history_to_prompt for one query without history: "Question: q Answer:" for
// template_version chat, "Question: q Short answer:" for vqa, q itself for base.
func PromptText(templateVersion, query string) string {
	switch templateVersion {
	case "base":
		return query
	case "vqa":
		return "Question: " + query + " Short answer:"
	default:
		return "Question: " + query + " Answer:"
	}
}

// Forward runs in after what s already holds, appends it to s and returns the logits of its
// last token (all=false) or of every token (all=true, rows of Vocab).
func (m *Model) Forward(s *Sequence, in Input) ([]float32, error) { return m.forward(s, in, false) }

// ForwardAll is Forward returning every token's logits.
func (m *Model) ForwardAll(s *Sequence, in Input) ([]float32, error) { return m.forward(s, in, true) }

func (m *Model) forward(s *Sequence, in Input, all bool) ([]float32, error) {
	return m.forwardWith(s, in, all, nil, nil)
}

// forwardWith can override the position ids and the expert mask of the chunk (tests use it to
// show that both matter).
func (m *Model) forwardWith(s *Sequence, in Input, all bool, posOverride []int32, maskOverride []bool) ([]float32, error) {
	x, err := m.embedInput(in)
	if err != nil {
		return nil, err
	}
	n, start := len(in.IDs), s.Len()
	if start+n > s.Cache.Cap() {
		return nil, fmt.Errorf("cogvlm2: %d tokens exceed the cache of %d", start+n, s.Cache.Cap())
	}
	types := append(append([]int(nil), s.types...), in.Types...)
	pos := PositionIDs(types)[start:]
	if posOverride != nil {
		pos = posOverride
	}
	mask := VisionExpert(in.Types)
	if maskOverride != nil {
		mask = maskOverride
	}
	routes := runs(mask)
	for i, l := range m.layers {
		x = m.layerForward(l, x, s.Cache, i, start, pos, routes, nil)
	}
	s.Cache.SetLen(start + n)
	s.types = types
	s.pos = append(s.pos, pos...)
	if !all {
		x = m.be.Rows(x, n-1, n)
	}
	return m.logits(x), nil
}

// embedInput is the token embeddings with the vision run replaced by the image's rows.
func (m *Model) embedInput(in Input) (backend.Tensor, error) {
	n := len(in.IDs)
	if n == 0 || len(in.Types) != n {
		return nil, fmt.Errorf("cogvlm2: input of %d ids and %d token types", n, len(in.Types))
	}
	V := m.cfg.LM.VocabSize
	lo, hi := -1, -1
	for i, id := range in.IDs {
		if id < 0 || int(id) >= V {
			return nil, fmt.Errorf("cogvlm2: token id %d outside the vocabulary of %d", id, V)
		}
		switch in.Types[i] {
		case VisionTokenType:
			if lo < 0 {
				lo = i
			} else if hi != i {
				return nil, fmt.Errorf("cogvlm2: vision tokens must form one contiguous run (a second run starts at %d)", i)
			}
			hi = i + 1
		case LanguageTokenType:
		default:
			return nil, fmt.Errorf("cogvlm2: token type %d at %d, want 0 (language) or 1 (vision)", in.Types[i], i)
		}
	}
	x := m.be.NewTensor(n, m.cfg.LM.HiddenSize)
	m.be.Embed(x, m.embed, in.IDs)
	switch {
	case lo < 0 && in.Image != nil:
		return nil, fmt.Errorf("cogvlm2: an image of %d embeddings but no vision tokens", in.Image.Rows())
	case lo >= 0 && (in.Image == nil || in.Image.Rows() != hi-lo || in.Image.Cols() != m.cfg.LM.HiddenSize):
		return nil, fmt.Errorf("cogvlm2: %d vision tokens need an image of %d×%d embeddings", hi-lo, hi-lo, m.cfg.LM.HiddenSize)
	case lo >= 0:
		m.be.Copy(m.be.Rows(x, lo, hi), in.Image)
	}
	return x, nil
}

// route is a run of consecutive tokens that use the same expert.
type route struct {
	lo, hi int
	vision bool
}

func runs(mask []bool) []route {
	var out []route
	for i := 0; i < len(mask); {
		j := i
		for j < len(mask) && mask[j] == mask[i] {
			j++
		}
		out = append(out, route{i, j, mask[i]})
		i = j
	}
	return out
}

func (l *layer) expert(vision bool) *expert {
	if vision {
		return &l.vis
	}
	return &l.lang
}

// Hook sees the input rows of a linear module of the decoder (name is the checkpoint's module
// name; for the fused QKV the rows are those routed to that expert).
type Hook func(name string, x backend.Tensor)

// layerForward is one decoder layer over x (n×H) at cache slots start.., RoPE positions pos:
//
//	h = x + dense_e(attention(rope(q_e(rms(x))), rope(k_e(rms(x))), v_e(rms(x))))
//	out = h + down_e(silu(gate_e(rms(h))) · up_e(rms(h)))
//
// where e is each token's expert (routes).
func (m *Model) layerForward(l *layer, x backend.Tensor, c backend.Cache, ci, start int, pos []int32, routes []route, hook Hook) backend.Tensor {
	be, a := m.be, m.attn
	n, H := x.Rows(), x.Cols()
	kvd := a.KVHeads * a.HeadDim
	h := be.NewTensor(n, H)
	be.RMSNorm(h, x, l.attnNorm, m.eps)
	q, k, v := be.NewTensor(n, H), be.NewTensor(n, kvd), be.NewTensor(n, kvd)
	for _, r := range routes {
		e := l.expert(r.vision)
		hr := be.Rows(h, r.lo, r.hi)
		if hook != nil {
			hook(e.qkvName, hr)
		}
		into(be, be.Rows(q, r.lo, r.hi), hr, e.q)
		into(be, be.Rows(k, r.lo, r.hi), hr, e.k)
		into(be, be.Rows(v, r.lo, r.hi), hr, e.v)
	}
	be.RoPEAt(q, a.HeadDim, pos, l.invFreq)
	be.RoPEAt(k, a.HeadDim, pos, l.invFreq)
	att := be.NewTensor(n, H)
	be.Attention(att, q, k, v, c, ci, start, a)
	o := be.NewTensor(n, H)
	for _, r := range routes {
		e := l.expert(r.vision)
		ar := be.Rows(att, r.lo, r.hi)
		if hook != nil {
			hook(e.dense.Name, ar)
		}
		into(be, be.Rows(o, r.lo, r.hi), ar, e.dense)
	}
	be.Add(x, x, o)

	be.RMSNorm(h, x, l.mlpNorm, m.eps)
	for _, r := range routes {
		e := l.expert(r.vision)
		hr := be.Rows(h, r.lo, r.hi)
		if hook != nil {
			hook(e.gate.Name, hr)
			hook(e.up.Name, hr)
		}
		g, u := e.gate.Forward(be, hr), e.up.Forward(be, hr)
		be.SwiGLU(g, g, u)
		if hook != nil {
			hook(e.down.Name, g)
		}
		into(be, be.Rows(o, r.lo, r.hi), g, e.down)
	}
	be.Add(x, x, o)
	return x
}

// into sets dst = x·Wᵀ (+ b) for a linear module, writing into a view.
func into(be backend.Backend, dst, x backend.Tensor, l *nn.Linear) {
	be.MatMul(dst, x, l.W)
	if l.B != nil {
		be.AddBias(dst, l.B)
	}
}

func (m *Model) logits(x backend.Tensor) []float32 {
	be := m.be
	h := be.NewTensor(x.Rows(), x.Cols())
	be.RMSNorm(h, x, m.norm, m.eps)
	y := m.head.Forward(be, h)
	out := make([]float32, y.Rows()*y.Cols())
	be.Download(out, y)
	return out
}
