package smolvlm

// The random GPTQ checkpoints of real SmolVLM shapes that bench.SmolVLM measures.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/rpiq/rpiq/kernels/half"
	"github.com/rpiq/rpiq/models/hf"
	"github.com/rpiq/rpiq/models/hf/safetensors"
	"github.com/rpiq/rpiq/models/hfmodel"
	"github.com/rpiq/rpiq/runtime/backend"
	"github.com/rpiq/rpiq/runtime/cpubackend"
)

// BenchBits is the storage the benchmarks run: decoder 4-bit, vision encoder, connector and
// head 8-bit, group 128 (embeddings, norms, biases and the patch embedding stay 16/32-bit).
var BenchBits = Bits{Decoder: 4, Vision: 8, Connector: 8, Head: 8, GroupSize: 128}

// RandomGPTQ is a checkpoint of cfg whose linears are GPTQ-packed with bits (random codes,
// symmetric zeros, fp16 scales about 1/(8·√in) so activations stay O(1); speed does not depend
// on values), the embeddings BF16 and the rest F32, with the quantization_config (per-part bits
// in "dynamic") that binds it. Each tensor is drawn when it is read, so building a model from it
// holds one packed tensor at a time beside the bound weights (the 2.2B shape would otherwise
// need its packed copy and its repacked copy at once).
func RandomGPTQ(cfg *Config, bits Bits, seed uint64) (hfmodel.Tensors, *hf.QuantizationConfig) {
	lt := &lazyTensors{info: map[string]safetensors.TensorInfo{}, gen: map[string]func() []byte{}}
	qc := &hf.QuantizationConfig{Method: "gptq", Bits: bits.Decoder, GroupSize: bits.GroupSize, Sym: true,
		CheckpointFormat: "gptq", LMHead: bits.Head < 16, Source: "(random)", Raw: map[string]any{}}
	dyn := map[string]any{}
	for _, p := range partPatterns {
		if b := bits.Of(p.part); b < 16 {
			dyn["+:"+p.re] = map[string]any{"bits": json.Number(strconv.Itoa(b))}
		}
	}
	qc.Raw["dynamic"] = dyn
	add := func(name string, dt safetensors.DType, shape []int, gen func(r *rand.Rand) []byte) {
		es, _ := dt.Size()
		n := int64(es)
		for _, d := range shape {
			n *= int64(d)
		}
		lt.info[name] = safetensors.TensorInfo{Name: name, DType: dt, Shape: shape, End: n}
		h := seed
		for _, c := range name {
			h = h*1099511628211 ^ uint64(c)
		}
		lt.gen[name] = func() []byte { return gen(rand.New(rand.NewPCG(h, seed))) }
	}
	words := func(n int) func(r *rand.Rand) []byte {
		return func(r *rand.Rand) []byte {
			b := make([]byte, 4*n)
			for i := 0; i+8 <= len(b); i += 8 {
				binary.LittleEndian.PutUint64(b[i:], r.Uint64())
			}
			return b
		}
	}
	for _, ts := range cfg.Tensors() {
		b := bits.Of(PartOf(ts))
		name, shape := ts.Name, ts.Shape
		n := int(ts.Numel())
		if b >= 16 {
			if strings.Contains(name, "embed_tokens") {
				add(name, safetensors.BF16, shape, func(r *rand.Rand) []byte {
					e := make([]byte, 2*n)
					for i := 0; i < n; i++ {
						binary.LittleEndian.PutUint16(e[2*i:], half.F32ToBF16(float32(r.NormFloat64())))
					}
					return e
				})
				continue
			}
			fan := 1
			if len(shape) > 1 {
				fan = n / shape[0]
			}
			add(name, safetensors.F32, shape, func(r *rand.Rand) []byte {
				v := make([]float32, n)
				for i := range v {
					switch {
					case strings.Contains(name, "norm") && strings.HasSuffix(name, ".weight"):
						v[i] = 1
					case strings.HasSuffix(name, ".bias"):
					default:
						v[i] = float32(r.NormFloat64() / math.Sqrt(float64(fan)))
					}
				}
				return f32bytes(v)
			})
			continue
		}
		out, in := shape[0], shape[1]
		groups := 1
		if bits.GroupSize > 0 {
			groups = (in + bits.GroupSize - 1) / bits.GroupSize
		}
		prefix := strings.TrimSuffix(name, ".weight")
		z := uint32(0x77777777) // v1 symmetric 4-bit: stored zero−1 = 7 in every nibble
		scale := float32(1 / (8 * math.Sqrt(float64(in))))
		if b == 8 {
			z, scale = 0x7f7f7f7f, scale/16
		}
		zcols := (out*b + 31) / 32
		add(prefix+".qweight", safetensors.I32, []int{in * b / 32, out}, words((in*b/32)*out))
		add(prefix+".qzeros", safetensors.I32, []int{groups, zcols}, func(*rand.Rand) []byte {
			zw := make([]byte, 4*groups*zcols)
			for i := 0; i < len(zw); i += 4 {
				binary.LittleEndian.PutUint32(zw[i:], z)
			}
			return zw
		})
		add(prefix+".scales", safetensors.F16, []int{groups, out}, func(*rand.Rand) []byte {
			sc := make([]byte, 2*groups*out)
			h := half.F32ToF16(scale)
			for i := 0; i < len(sc); i += 2 {
				binary.LittleEndian.PutUint16(sc[i:], h)
			}
			return sc
		})
	}
	return lt, qc
}

// lazyTensors is a checkpoint whose tensors are generated when read.
type lazyTensors struct {
	info map[string]safetensors.TensorInfo
	gen  map[string]func() []byte
}

func (l *lazyTensors) Dir() string { return "(random)" }

func (l *lazyTensors) Info(name string) (safetensors.TensorInfo, bool) {
	i, ok := l.info[name]
	return i, ok
}

func (l *lazyTensors) File(name string) (string, bool) { _, ok := l.info[name]; return "(random)", ok }

func (l *lazyTensors) Raw(name string) (safetensors.TensorInfo, []byte, error) {
	i, ok := l.info[name]
	if !ok {
		return i, nil, fmt.Errorf("(random): tensor %q: not in the checkpoint", name)
	}
	return i, l.gen[name](), nil
}

func (l *lazyTensors) CheckShape(name string, shape ...int) error {
	i, ok := l.info[name]
	if !ok {
		return fmt.Errorf("(random): tensor %q: not in the checkpoint", name)
	}
	if len(i.Shape) != len(shape) {
		return fmt.Errorf("(random): tensor %q: shape is %v, want %v", name, i.Shape, shape)
	}
	for k := range shape {
		if i.Shape[k] != shape[k] {
			return fmt.Errorf("(random): tensor %q: shape is %v, want %v", name, i.Shape, shape)
		}
	}
	return nil
}

func (l *lazyTensors) Float32(name string, shape ...int) ([]float32, error) {
	if len(shape) > 0 {
		if err := l.CheckShape(name, shape...); err != nil {
			return nil, err
		}
	}
	i, b, err := l.Raw(name)
	if err != nil {
		return nil, err
	}
	es, _ := i.DType.Size()
	out := make([]float32, len(b)/es)
	switch i.DType {
	case safetensors.F32:
		for k := range out {
			out[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
		}
	case safetensors.BF16:
		half.BF16SliceToF32(out, b)
	default:
		return nil, fmt.Errorf("(random): tensor %q: dtype %s", name, i.DType)
	}
	return out, nil
}

// ResidentWeightBytes is the memory the bound weights take in the backend's layouts
// (repacked quantized matrices; dense ones as stored).
func (m *Model) ResidentWeightBytes() int64 {
	n := int64(0)
	for _, l := range m.Linears() {
		n += weightBytes(l.W)
		if l.B != nil {
			n += int64(4 * l.B.Cols())
		}
	}
	n += weightBytes(m.embed) + weightBytes(m.patch.W)
	return n
}

func weightBytes(w backend.Weight) int64 {
	if g, ok := w.(*cpubackend.GPTQ); ok {
		return int64(g.Bytes())
	}
	return int64(w.Rows()*w.Cols()) * int64(w.DType().Size())
}
