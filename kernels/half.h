// 16-bit floating point: fp32 <-> IEEE binary16 (fp16) and fp32 <-> bfloat16.
//
// The array conversions pick the CPU's own instructions at run time (F16C for
// fp16, AVX512-BF16 for narrowing to bf16, AVX-512 or AVX2 shifts for widening
// bf16) and fall back to the portable scalar code below, which gives bitwise
// the same results as those instructions:
//   - narrowing rounds to nearest, ties to even; too large becomes +-inf
//     (fp16: |x| >= 65520);
//   - NaN stays NaN, made quiet, its payload truncated (a NaN never rounds to inf);
//   - fp16 subnormals are produced and read exactly;
//   - to bf16, fp32 subnormal inputs become zero of the same sign: that is what
//     VCVTNEPS2BF16 does (it treats denormal inputs as zero whatever MXCSR says),
//     and the portable code matches it. To fp16 they round to zero anyway.
//   - widening is exact (bf16: a 16-bit shift; fp16: signalling NaNs are quieted,
//     as VCVTPH2PS does).
// Setting MEMSTRAT_HALF_PORTABLE=1 in the environment forces the portable code;
// it is read at every call, so tests can compare both paths in one process.
// Large arrays are converted by OpenMP threads; call from outside parallel regions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memstrat {

// Arrays: out[i] = convert(in[i]) for i < n. `out` and `in` must not overlap.
void f32_to_f16(std::uint16_t* out, const float* in, std::size_t n);
void f16_to_f32(float* out, const std::uint16_t* in, std::size_t n);
void f32_to_bf16(std::uint16_t* out, const float* in, std::size_t n);
void bf16_to_f32(float* out, const std::uint16_t* in, std::size_t n);

// Scalars, portable: the reference the SIMD paths are held against.
std::uint16_t f32_to_f16(float value);
float f16_to_f32(std::uint16_t bits);
std::uint16_t f32_to_bf16(float value);
float bf16_to_f32(std::uint16_t bits);

// Which code the array conversions use now: "f16c", "avx512bf16", "avx512",
// "avx2" or "portable" (after MEMSTRAT_HALF_PORTABLE and the CPU's features).
const char* f16_narrow_path();
const char* f16_widen_path();
const char* bf16_narrow_path();
const char* bf16_widen_path();

}  // namespace memstrat
