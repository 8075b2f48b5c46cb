// Package quant quantizes the linear layers of a transformer: the min-max grid, round to nearest
// (RTN), GPTQ (stage 1, a faithful port of the reference fasterquant), RPIQ's Gauss-Seidel
// refinement (stage 2), the GPTQ packed checkpoint layout and its loader.
//
// Matrices are row-major float64 in the Hugging Face orientation: W is out×in (m×n), a
// calibration activation is one row of n inputs. Everything numeric has a float64 naive
// reference in the tests.
package quant
