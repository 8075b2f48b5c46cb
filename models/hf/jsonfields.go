package hf

import (
	"bytes"
	"encoding/json"
	"math"
)

// Fields reads typed values out of a decoded JSON object (config.json or an object inside it),
// remembering the file name and the object's path for errors. The first error sticks (Err);
// later getters return their defaults. Architectures read their own hyper-parameters with it.
type Fields struct {
	file   string
	prefix string // "vision_config." for a nested object
	m      map[string]any
	err    error
	parent *Fields // the object this one is inside: its error is recorded there too
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

// NewFields reads the JSON object m of file (config.json).
func NewFields(file string, m map[string]any) *Fields { return &Fields{file: file, m: m} }

// Sub reads the object under key ("vision_config"): nil when absent (or not an object, which is
// recorded as the error). Its errors name the field with the path, "vision_config.hidden_size",
// and land in f as well as in the returned Fields.
func (f *Fields) Sub(key string) *Fields {
	m := f.Object(key)
	if m == nil {
		return nil
	}
	return &Fields{file: f.file, prefix: f.prefix + key + ".", m: m, parent: f}
}

// Raw is the object itself (numbers are json.Number).
func (f *Fields) Raw() map[string]any { return f.m }

// File is the file the object came from.
func (f *Fields) File() string { return f.file }

// Err is the first error recorded (an *Error naming the file and field), or nil.
func (f *Fields) Err() error { return f.err }

// Fail records a problem with field (a key of this object) unless an error is already recorded.
func (f *Fields) Fail(field, format string, a ...any) {
	if f.err == nil {
		f.err = errf(f.file, f.prefix+field, format, a...)
		for p := f.parent; p != nil; p = p.parent {
			if p.err == nil {
				p.err = f.err
			}
		}
	}
}

// Has reports whether key is present and not null.
func (f *Fields) Has(key string) bool {
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

// Int reads an integer (4096.0 is accepted); absent or null gives def, or an error when required.
func (f *Fields) Int(key string, required bool, def int) int {
	v, ok := f.m[key]
	if !ok || v == nil {
		if required {
			f.Fail(key, "missing required field (want an integer)")
		}
		return def
	}
	i, ok := intVal(v)
	if !ok {
		f.Fail(key, "want an integer, got %s", describe(v))
		return def
	}
	return i
}

// Positive is Int with a check that the value is > 0.
func (f *Fields) Positive(key string, required bool, def int) int {
	i := f.Int(key, required, def)
	if f.err == nil && i <= 0 && (required || f.Has(key)) {
		f.Fail(key, "must be positive, got %d", i)
	}
	return i
}

// Float reads a finite number; absent or null gives def.
func (f *Fields) Float(key string, def float64) float64 {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def
	}
	n, ok := v.(json.Number)
	if !ok {
		f.Fail(key, "want a number, got %s", describe(v))
		return def
	}
	x, err := n.Float64()
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		f.Fail(key, "want a finite number, got %s", n)
		return def
	}
	return x
}

// Bool reads true or false; absent or null gives def.
func (f *Fields) Bool(key string, def bool) bool {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		f.Fail(key, "want true or false, got %s", describe(v))
		return def
	}
	return b
}

// String reads a string; absent or null gives def.
func (f *Fields) String(key string, def string) string {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def
	}
	s, ok := v.(string)
	if !ok {
		f.Fail(key, "want a string, got %s", describe(v))
		return def
	}
	return s
}

// TokenID reads an optional, non-negative token id (null or absent gives def).
func (f *Fields) TokenID(key string, def int) int {
	if !f.Has(key) {
		return def
	}
	i := f.Int(key, false, def)
	if f.err == nil && i < 0 {
		f.Fail(key, "token id must not be negative, got %d", i)
	}
	return i
}

// TokenIDs reads an id that may be an integer or a list of integers (eos_token_id).
func (f *Fields) TokenIDs(key string, def []int) []int {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def
	}
	if list, ok := v.([]any); ok {
		out := make([]int, 0, len(list))
		for _, e := range list {
			i, ok := intVal(e)
			if !ok || i < 0 {
				f.Fail(key, "want a token id or a list of token ids, got an element %s", describe(e))
				return def
			}
			out = append(out, i)
		}
		return out
	}
	i, ok := intVal(v)
	if !ok || i < 0 {
		f.Fail(key, "want a token id or a list of token ids, got %s", describe(v))
		return def
	}
	return []int{i}
}

// Object reads a nested JSON object (nil when absent or null).
func (f *Fields) Object(key string) map[string]any {
	v, ok := f.m[key]
	if !ok || v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		f.Fail(key, "want a JSON object, got %s", describe(v))
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
