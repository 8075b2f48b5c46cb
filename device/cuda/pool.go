package cuda

import (
	"errors"
	"fmt"
	"math/bits"
)

// pool caches freed device blocks by size class so the decode loop's scratch buffers are reused
// instead of going through cuMemAlloc/cuMemFree (which synchronize the device). Classes waste at
// most 1/8 of a block: 256-byte steps up to 4 KiB, then 8 steps per power of two.
type pool struct {
	alloc  func(n int) (DevPtr, error)
	free   func(p DevPtr) error
	live   map[DevPtr]int   // allocated block → its class size
	free_  map[int][]DevPtr // class size → cached blocks
	inUse  int              // bytes handed out
	cached int              // bytes held in free_
}

// sizeClass rounds n up to its class.
func sizeClass(n int) int {
	if n <= 0 {
		return 256
	}
	if n <= 4096 {
		return (n + 255) &^ 255
	}
	step := 1 << (bits.Len(uint(n-1)) - 4) // for n in (2^k, 2^(k+1)]: 2^k/8
	return (n + step - 1) / step * step
}

func (p *pool) get(n int) (DevPtr, error) {
	if n < 0 {
		return 0, fmt.Errorf("cuda: Alloc of %d bytes", n)
	}
	size := sizeClass(n)
	if list := p.free_[size]; len(list) > 0 {
		ptr := list[len(list)-1]
		p.free_[size] = list[:len(list)-1]
		p.cached -= size
		p.live[ptr] = size
		p.inUse += size
		return ptr, nil
	}
	ptr, err := p.alloc(size)
	if errors.Is(err, ErrOutOfMemory) && p.cached > 0 {
		// Cached blocks of other sizes may be what the device is missing: give them back, retry.
		if terr := p.trim(); terr != nil {
			return 0, terr
		}
		ptr, err = p.alloc(size)
	}
	if err != nil {
		return 0, err
	}
	p.live[ptr] = size
	p.inUse += size
	return ptr, nil
}

func (p *pool) put(ptr DevPtr) error {
	if ptr == 0 {
		return nil
	}
	size, ok := p.live[ptr]
	if !ok {
		return fmt.Errorf("cuda: Free of %#x, which the pool did not hand out (or was freed twice)", uint64(ptr))
	}
	delete(p.live, ptr)
	p.inUse -= size
	p.free_[size] = append(p.free_[size], ptr)
	p.cached += size
	return nil
}

// trim frees every cached block.
func (p *pool) trim() error {
	var first error
	for size, list := range p.free_ {
		for _, ptr := range list {
			if err := p.free(ptr); err != nil && first == nil {
				first = err
			}
			p.cached -= size
		}
		delete(p.free_, size)
	}
	return first
}
