package hf

import (
	"fmt"
	"testing"

	"github.com/rpiq/rpiq/models/hf/safetensors"
)

// BenchmarkFloat32 measures widening a 4096x1024 tensor from each stored dtype (bytes = stored
// bytes read per op).
func BenchmarkFloat32(b *testing.B) {
	const rows, cols = 4096, 1024
	for _, d := range []safetensors.DType{safetensors.F32, safetensors.BF16, safetensors.F16} {
		b.Run(string(d), func(b *testing.B) {
			sz, _ := d.Size()
			dir := b.TempDir()
			data := make([]byte, rows*cols*sz)
			for i := range data {
				data[i] = byte(i * 7)
			}
			if err := WriteCheckpoint(dir, []safetensors.Tensor{{Name: "w", DType: d, Shape: []int{rows, cols}, Data: data}}, nil, 0); err != nil {
				b.Fatal(err)
			}
			c, err := OpenCheckpoint(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Float32("w", rows, cols); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteCheckpoint measures writing 64 MiB in 32 tensors (atomic, fsynced).
func BenchmarkWriteCheckpoint(b *testing.B) {
	var ts []safetensors.Tensor
	for i := 0; i < 32; i++ {
		ts = append(ts, safetensors.Tensor{Name: fmt.Sprintf("t%02d", i), DType: safetensors.BF16, Shape: []int{1024, 1024}, Data: make([]byte, 2<<20)})
	}
	b.SetBytes(64 << 20)
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		if err := WriteCheckpoint(dir, ts, nil, 0); err != nil {
			b.Fatal(err)
		}
	}
}
