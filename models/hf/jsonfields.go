package hf

import (
	"bytes"
	"encoding/json"
	"math"
)

// fields reads typed values out of a decoded JSON object, remembering the file name for errors.
// The first error sticks; later getters return zero values.
type fields struct {
	file string
	m    map[string]any
	err  error
}

func decodeObject(file string, data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, &Error{File: file, Problem: "not a valid JSON object", Err: err}
	}
	if m == nil {
		return nil, errf(file, "", "want a JSON object, got null")
	}
	if dec.More() {
		return nil, errf(file, "", "trailing data after the JSON object")
	}
	return m, nil
}

func (f *fields) fail(field, format string, a ...any) {
	if f.err == nil {
		f.err = errf(f.file, field, format, a...)
	}
}

func (f *fields) has(key string) bool {
	v, ok := f.m[key]
	return ok && v != nil
}

// intVal converts a JSON number that holds an integer.
func intVal(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		if int64(int(i)) != i {
			return 0, false
		}
		return int(i), true
	}
	fl, err := n.Float64() // 4096.0 is accepted as 4096
	if err != nil || fl != math.Trunc(fl) || math.Abs(fl) > 1<<53 {
		return 0, false
	}
	return int(fl), true
}

func (f *fields) int(key string, required bool, def int) int {
	v, ok := f.m[key]
	if !ok || v == nil {
		if required {
			f.fail(key, "missing required field (want an integer)")
		}
		return def
	}
	i, ok := intVal(v)
	if !ok {
		f.fail(key, "want an integer, got %s", describe(v))
		return def
	}
	return i
}

// positive is int with a check that the value is > 0.
func (f *fields) positive(key string, required bool, def int) int {
	i := f.int(key, required, def)
	if f.err == nil && i <= 0 && (required || f.has(key)) {
		f.fail(key, "must be positive, got %d", i)
	}
	return i
}

func (f *fields) float(key string, def float64) float64 {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def
	}
	n, ok := v.(json.Number)
	if !ok {
		f.fail(key, "want a number, got %s", describe(v))
		return def
	}
	x, err := n.Float64()
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		f.fail(key, "want a finite number, got %s", n)
		return def
	}
	return x
}

func (f *fields) bool(key string, def bool) bool {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		f.fail(key, "want true or false, got %s", describe(v))
		return def
	}
	return b
}

func (f *fields) string(key string, def string) string {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def
	}
	s, ok := v.(string)
	if !ok {
		f.fail(key, "want a string, got %s", describe(v))
		return def
	}
	return s
}

// tokenID reads an optional token id (null or absent gives def).
func (f *fields) tokenID(key string, def int) int {
	if !f.has(key) {
		return def
	}
	i := f.int(key, false, def)
	if f.err == nil && i < 0 {
		f.fail(key, "token id must not be negative, got %d", i)
	}
	return i
}

// tokenIDs reads an id that may be an integer or a list of integers (eos_token_id).
func (f *fields) tokenIDs(key string, def []int) []int {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def
	}
	if list, ok := v.([]any); ok {
		out := make([]int, 0, len(list))
		for _, e := range list {
			i, ok := intVal(e)
			if !ok || i < 0 {
				f.fail(key, "want a token id or a list of token ids, got an element %s", describe(e))
				return def
			}
			out = append(out, i)
		}
		return out
	}
	i, ok := intVal(v)
	if !ok || i < 0 {
		f.fail(key, "want a token id or a list of token ids, got %s", describe(v))
		return def
	}
	return []int{i}
}

func (f *fields) object(key string) map[string]any {
	v, ok := f.m[key]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		f.fail(key, "want a JSON object, got %s", describe(v))
		return nil
	}
	return m
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		if x {
			return "true"
		}
		return "false"
	case json.Number:
		return "the number " + x.String()
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		b, _ := json.Marshal(x)
		return "the string " + string(b)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return "an unexpected value"
}
