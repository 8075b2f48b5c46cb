// Package cuda binds the CUDA driver API (libcuda.so.1) and the NVRTC runtime compiler
// (libnvrtc.so) through purego, so the project builds with CGO_ENABLED=0 and runs on machines
// without a GPU: there every entry point returns an error that says what is missing.
//
// The shape:
//   - LoadDriver / LoadNVRTC open the libraries once and resolve every symbol up front, so a
//     missing function is reported at load time, naming the library and the symbol.
//   - Open starts one goroutine locked to its OS thread; it owns the device's primary context.
//     All driver work runs inside Device.Run on that thread (a driver context is current per OS
//     thread, goroutines migrate).
//   - Ctx (given to Run) allocates from a size-class memory pool, copies, makes streams, events
//     and modules, launches kernels and captures CUDA graphs.
//   - Kernel launches go through purego.SyscallN (the cheapest purego call, ~280 ns measured) with
//     kernel parameters in a per-context arena that is pinned for the context's whole life, so no
//     launch allocates parameter memory and the GC can never move it.
//   - Every failing CUresult or nvrtcResult becomes an *Error naming the call and the CUDA error
//     name (CUDA_ERROR_OUT_OF_MEMORY, NVRTC_ERROR_COMPILATION, ...).
package cuda
