package scene

// #cgo !windows pkg-config: opencv4
// #cgo CXXFLAGS: --std=c++11
// #include <stdlib.h>
// #include "dnn_shim.h"
import "C"

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"gocv.io/x/gocv"
)

// liveMats counts the Mats this package holds; tests assert it returns to zero (Mats hold C
// memory that the Go collector never sees).
var liveMats atomic.Int64

// LiveMats is the number of OpenCV matrices the scene engine holds right now (0 when idle).
func LiveMats() int64 { return liveMats.Load() }

func track(m gocv.Mat) gocv.Mat { liveMats.Add(1); return m }

func closeMat(m *gocv.Mat) {
	m.Close()
	liveMats.Add(-1)
}

// ErrModel is wrapped by every error about a model file: missing, unreadable or not a network
// OpenCV can load.
var ErrModel = errors.New("model file")

// net is one OpenCV DNN network. OpenCV's readNet and forward throw C++ exceptions on a bad file;
// they are caught in the shim and come back as errors, so a corrupt model is a message, never a
// crash. One forward pass runs at a time.
type net struct {
	mu sync.Mutex
	p  unsafe.Pointer
}

// readNet loads model (and config, for TensorFlow's graph text; may be empty).
func readNet(model, config string) (*net, error) {
	for _, f := range []string{model, config} {
		if f == "" {
			continue
		}
		st, err := os.Stat(f)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w %s: %w", ErrModel, f, fs.ErrNotExist)
		}
		if err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrModel, f, err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("%w %s: is a folder, not a model file", ErrModel, f)
		}
	}
	cm := C.CString(model)
	defer C.free(unsafe.Pointer(cm))
	cc := C.CString(config)
	defer C.free(unsafe.Pointer(cc))
	var cerr *C.char
	p := C.scene_net_read(cm, cc, &cerr)
	if p == nil {
		msg := "cannot be loaded"
		if cerr != nil {
			msg = C.GoString(cerr)
			C.scene_free(cerr)
		}
		return nil, fmt.Errorf("%w %s: OpenCV cannot load it (damaged or not this network): %s", ErrModel, model, msg)
	}
	return &net{p: p}, nil
}

// forward runs the network on blob and returns its first output (the caller closes it).
func (n *net) forward(blob gocv.Mat) (gocv.Mat, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p == nil {
		return gocv.Mat{}, errors.New("scene: network closed")
	}
	out := track(gocv.NewMat())
	var cerr *C.char
	if C.scene_net_forward(n.p, unsafe.Pointer(blob.Ptr()), unsafe.Pointer(out.Ptr()), &cerr) != 0 {
		closeMat(&out)
		msg := "failed"
		if cerr != nil {
			msg = C.GoString(cerr)
			C.scene_free(cerr)
		}
		return gocv.Mat{}, fmt.Errorf("scene: the network's forward pass failed: %s", msg)
	}
	return out, nil
}

func (n *net) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.p != nil {
		C.scene_net_close(n.p)
		n.p = nil
	}
}
