package textrectest

// Exported pieces of the ONNX writer, for other packages' tiny test networks (assist/textdet).

// Node is an ONNX node: op on inputs in, its one output out, with encoded attributes.
func Node(op string, in []string, out string, attrs ...[]byte) []byte {
	return node(op, in, out, attrs...)
}

// FloatTensor is an initializer of float32 values.
func FloatTensor(name string, dims []int64, v []float32) []byte { return floatTensor(name, dims, v) }

// ValueInfo is a float graph input or output (−1: a dynamic dimension).
func ValueInfo(name string, dims ...int64) []byte { return valueInfo(name, dims...) }

// Graph is an ONNX model (opset 13) of nodes, initializers, one input and one output.
func Graph(name string, nodes, inits [][]byte, input, output []byte) []byte {
	var g []byte
	for _, n := range nodes {
		g = appendBytes(g, 1, n)
	}
	g = appendBytes(g, 2, []byte(name))
	for _, t := range inits {
		g = appendBytes(g, 5, t)
	}
	g = appendBytes(g, 11, input)
	g = appendBytes(g, 12, output)
	var m []byte
	m = appendVarint(m, 1, 8)
	var op []byte
	op = appendBytes(op, 1, nil)
	op = appendVarint(op, 2, 13)
	m = appendBytes(m, 8, op)
	return appendBytes(m, 7, g)
}
