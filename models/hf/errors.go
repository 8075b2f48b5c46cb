// Package hf reads Hugging Face model directories: config.json (normalised across the
// architectures the runtime runs), generation_config.json, and safetensors weights in one file
// or sharded through model.safetensors.index.json. Tensor files themselves are handled by the
// subpackage safetensors.
//
// Every error about a file's content is an *Error naming the file, the field or tensor and what
// was expected; its BadInput method marks it as bad input for the CLI's exit status.
package hf

import "fmt"

// Error is a problem with the content of a model file.
type Error struct {
	File    string // path of the file
	Field   string // JSON field or `tensor "name"`; "" when file-wide
	Problem string
	Err     error // underlying cause, if any
}

func (e *Error) Error() string {
	s := e.File
	if e.Field != "" {
		s += ": " + e.Field
	}
	s += ": " + e.Problem
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// BadInput reports that the error comes from the input's content (CLI exit status 2).
func (e *Error) BadInput() bool { return true }

func errf(file, field, format string, a ...any) *Error {
	return &Error{File: file, Field: field, Problem: fmt.Sprintf(format, a...)}
}
