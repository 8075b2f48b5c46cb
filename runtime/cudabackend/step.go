package cudabackend

import (
	"fmt"

	"github.com/rpiq/rpiq/device/cuda"
	"github.com/rpiq/rpiq/runtime/backend"
)

// stepState is the device memory a captured decode step reads its varying inputs from.
type stepState struct {
	pos   *buffer // int32: the position of the token
	token *buffer // int32: the token to embed; the sampler writes the next one here
	rng   *buffer // uint64: the sampler's draw counter
	keep  []*buffer
}

// Step is a decode step captured as a CUDA graph: one cuGraphLaunch replays every kernel of the
// step, with the position and the input token read from device memory, and the sampled token
// written back there, so nothing but a 4-byte token id crosses to the host per token.
type Step struct {
	b     *Backend
	graph *cuda.Graph
	state *stepState
}

// CaptureStep records fn, one decode step written against the backend (Embed of one id, the
// layers, then Sample or Argmax), as a graph. Inside fn, RoPE, Attention and Embed take their
// position and token from the step's device memory, and tensors allocated by fn are kept for the
// graph's lifetime. fn must not download anything (that would synchronise a capturing stream);
// run one step eagerly first so one-time uploads (RoPE tables) are done.
func (b *Backend) CaptureStep(fn func() error) (*Step, error) {
	st := &stepState{pos: b.alloc(4), token: b.alloc(4), rng: b.alloc(8)}
	b.run(func(c *cuda.Ctx) error {
		if err := c.Memset32Async(st.rng.ptr, 0, 2, b.stream); err != nil {
			return err
		}
		return b.sync(c)
	})
	if err := b.do(func(c *cuda.Ctx) error { return c.BeginCapture(b.stream) }); err != nil {
		return nil, err
	}
	b.step = st
	ferr := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("cudabackend: capturing a step: %v", r)
			}
		}()
		return fn()
	}()
	b.step = nil
	var g *cuda.Graph
	gerr := b.do(func(c *cuda.Ctx) error { // the queued launches of fn are captured first
		var err error
		g, err = c.EndCapture(b.stream)
		return err
	})
	if ferr != nil {
		if g != nil {
			b.dev.Run(func(c *cuda.Ctx) error { return c.DestroyGraph(g) })
		}
		return nil, ferr
	}
	if gerr != nil {
		return nil, gerr
	}
	st.keep = b.captured
	b.captured = nil
	return &Step{b: b, graph: g, state: st}, nil
}

// Run replays the step for token at position pos and returns without waiting; Token waits.
func (s *Step) Run(pos int, token int32) error {
	b := s.b
	return b.do(func(c *cuda.Ctx) error {
		if err := c.Memset32Async(s.state.pos.ptr, uint32(pos), 1, b.stream); err != nil {
			return err
		}
		if token >= 0 {
			if err := c.Memset32Async(s.state.token.ptr, uint32(token), 1, b.stream); err != nil {
				return err
			}
		}
		return c.LaunchGraph(s.graph, b.stream)
	})
}

// Next replays the step on the token the previous replay sampled (already on the device).
func (s *Step) Next(pos int) error { return s.Run(pos, -1) }

// Token waits for the step and returns the token it sampled.
func (s *Step) Token() (int32, error) {
	var out [1]int32
	err := s.b.do(func(c *cuda.Ctx) error {
		if err := s.b.sync(c); err != nil {
			return err
		}
		return cuda.CopyFromDevice(c, out[:], s.state.token.ptr)
	})
	return out[0], err
}

// Close frees the graph.
func (s *Step) Close() error {
	return s.b.dev.Run(func(c *cuda.Ctx) error { return c.DestroyGraph(s.graph) })
}

// SampleParams choose the next token: Temperature <= 0 is greedy (argmax); TopK <= 0 and
// TopP >= 1 switch those filters off. Seed and the draw counter make runs reproducible.
type SampleParams struct {
	Temperature float32
	TopK        int
	TopP        float32
	Seed        uint64
}

// Sample picks the next token from a 1×vocab logits tensor on the GPU. Inside CaptureStep it
// writes the step's device token (the next replay embeds it); otherwise read it with Token.
func (b *Backend) Sample(logits backend.Tensor, p SampleParams) {
	l := ten(logits)
	if l.rows != 1 {
		panic(fmt.Sprintf("cudabackend: Sample of %d×%d logits (one row)", l.rows, l.cols))
	}
	out, rng := b.samplerState()
	if p.Temperature <= 0 {
		b.launch("argmax", cuda.D1(1), cuda.D1(1024), 0, cuda.Ptr(l.ptr), cuda.I32(l.cols), cuda.Ptr(out))
		return
	}
	scratch := b.scratchFloats(l.cols)
	topP := p.TopP
	if topP <= 0 || topP > 1 {
		topP = 1
	}
	b.launch("sample_topk_topp", cuda.D1(1), cuda.D1(1024), 0, cuda.Ptr(l.ptr), cuda.I32(l.cols),
		cuda.F32(p.Temperature), cuda.I32(p.TopK), cuda.F32(topP), cuda.U64(p.Seed), cuda.Ptr(rng),
		cuda.Ptr(scratch), cuda.Ptr(out))
}

// Token waits for the last Sample outside a captured step and returns its token.
func (b *Backend) Token() int32 {
	out, _ := b.samplerState()
	var v [1]int32
	b.run(func(c *cuda.Ctx) error {
		if err := b.sync(c); err != nil {
			return err
		}
		return cuda.CopyFromDevice(c, v[:], out)
	})
	return v[0]
}

func (b *Backend) samplerState() (token, rng cuda.DevPtr) {
	if b.step != nil {
		return b.step.token.ptr, b.step.rng.ptr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.token == nil {
		b.token, b.rng = b.alloc(4), b.alloc(8)
		b.run(func(c *cuda.Ctx) error { return c.Memset32Async(b.rng.ptr, 0, 2, b.stream) })
	}
	return b.token.ptr, b.rng.ptr
}

func (b *Backend) scratchFloats(n int) cuda.DevPtr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.scratch == nil || b.scratch.bytes < n*4 {
		b.scratch = b.alloc(n * 4)
	}
	if b.step != nil {
		b.captured = append(b.captured, b.scratch)
	}
	return b.scratch.ptr
}

// resetDraws restarts the sampler's draw counter (tests compare draws with the reference).
func (b *Backend) resetDraws() {
	_, rng := b.samplerState()
	b.run(func(c *cuda.Ctx) error { return c.Memset32Async(rng, 0, 2, b.stream) })
}
