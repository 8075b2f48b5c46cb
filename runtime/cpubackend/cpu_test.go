package cpubackend

import (
	"testing"

	"github.com/rpiq/rpiq/runtime/backend/backendtest"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, New(1))
	backendtest.Run(t, New(3))
}
