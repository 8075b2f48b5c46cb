package quant

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"strings"
)

// Encoder is the part of a tokenizer calibration needs.
type Encoder interface {
	Encode(text string, addSpecial bool) ([]int, error)
}

// ReadCalibration reads calibration documents: JSONL with a "text" field per line (the C4
// layout), or plain text with one document per non-empty line.
func ReadCalibration(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%s: the calibration file is empty", path)
	}
	jsonl := trimmed[0] == '{'
	var docs []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(s) == "" {
			continue
		}
		if !jsonl {
			docs = append(docs, s)
			continue
		}
		var rec struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal([]byte(s), &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: not a JSON object: %v", path, line, err)
		}
		if rec.Text == nil {
			return nil, fmt.Errorf("%s:%d: the JSON object has no \"text\" field", path, line)
		}
		if *rec.Text != "" {
			docs = append(docs, *rec.Text)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s: no calibration text in the file", path)
	}
	return docs, nil
}

// Windows draws n windows of seqlen tokens with the GPTQ reference's procedure (datautils.get_c4
// with Python's random seeded by seed): pick a random document, retry while it has no more than
// seqlen tokens, then take a random window of it. When no document is long enough (short lines
// of plain text), the documents are joined with "\n\n" into one stream and every window is
// drawn from it. Encoding adds the tokenizer's special prefix (BOS for LLaMA), as the reference
// tokenizer call does.
func Windows(file string, docs []string, enc Encoder, n, seqlen int, seed int64) ([][]int32, error) {
	if n <= 0 || seqlen <= 0 {
		return nil, fmt.Errorf("%s: %d windows of %d tokens requested, want positive numbers", file, n, seqlen)
	}
	toks := make([][]int, len(docs))
	long := 0
	total := 0
	for i, d := range docs {
		ids, err := enc.Encode(d, true)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", file, i+1, err)
		}
		toks[i] = ids
		total += len(ids)
		if len(ids) > seqlen {
			long++
		}
	}
	rng := NewPyRandom(seed)
	out := make([][]int32, 0, n)
	if long == 0 {
		joined, err := enc.Encode(strings.Join(docs, "\n\n"), true)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		if len(joined) <= seqlen {
			return nil, fmt.Errorf("%s: the calibration text is too short: %d tokens, need more than --seqlen %d", file, len(joined), seqlen)
		}
		for len(out) < n {
			i := rng.RandInt(0, len(joined)-seqlen-1)
			out = append(out, toInt32(joined[i:i+seqlen]))
		}
		return out, nil
	}
	for len(out) < n {
		var ids []int
		for {
			ids = toks[rng.RandInt(0, len(toks)-1)]
			if len(ids) > seqlen {
				break
			}
		}
		i := rng.RandInt(0, len(ids)-seqlen-1)
		out = append(out, toInt32(ids[i:i+seqlen]))
	}
	return out, nil
}

func toInt32(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, v := range ids {
		out[i] = int32(v)
	}
	return out
}

// PyRandom is CPython's random.Random (MT19937, seeded from an integer as random.seed does),
// enough of it to draw the reference's calibration windows.
type PyRandom struct {
	mt  [624]uint32
	idx int
}

// NewPyRandom is random.seed(seed) for a non-negative integer seed (negative seeds use |seed|,
// as CPython does).
func NewPyRandom(seed int64) *PyRandom {
	if seed < 0 {
		seed = -seed
	}
	u := uint64(seed)
	var key []uint32
	for u > 0 {
		key = append(key, uint32(u))
		u >>= 32
	}
	if len(key) == 0 {
		key = []uint32{0}
	}
	r := &PyRandom{}
	r.initGenrand(19650218)
	i, j := 1, 0
	k := max(624, len(key))
	for ; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1664525)) + key[j] + uint32(j)
		i++
		j++
		if i >= 624 {
			r.mt[0] = r.mt[623]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k = 623; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= 624 {
			r.mt[0] = r.mt[623]
			i = 1
		}
	}
	r.mt[0] = 0x80000000
	return r
}

func (r *PyRandom) initGenrand(s uint32) {
	r.mt[0] = s
	for i := 1; i < 624; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	r.idx = 624
}

// Uint32 is genrand_uint32.
func (r *PyRandom) Uint32() uint32 {
	if r.idx >= 624 {
		for k := 0; k < 624; k++ {
			y := (r.mt[k] & 0x80000000) | (r.mt[(k+1)%624] & 0x7fffffff)
			v := r.mt[(k+397)%624] ^ (y >> 1)
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			r.mt[k] = v
		}
		r.idx = 0
	}
	y := r.mt[r.idx]
	r.idx++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// getrandbits(k) for 1 <= k <= 64.
func (r *PyRandom) getrandbits(k int) uint64 {
	if k <= 32 {
		return uint64(r.Uint32() >> (32 - k))
	}
	lo := uint64(r.Uint32())
	hi := uint64(r.Uint32() >> (64 - k))
	return hi<<32 | lo
}

// RandInt is random.randint(a, b): a uniform integer in [a, b] by rejection sampling.
func (r *PyRandom) RandInt(a, b int) int {
	n := uint64(b - a + 1)
	k := bits.Len64(n)
	v := r.getrandbits(k)
	for v >= n {
		v = r.getrandbits(k)
	}
	return a + int(v)
}

// Random is random.random().
func (r *PyRandom) Random() float64 {
	a, b := r.Uint32()>>5, r.Uint32()>>6
	return (float64(a)*67108864 + float64(b)) * (1.0 / 9007199254740992.0)
}
