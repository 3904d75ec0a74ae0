// fp32 <-> fp16 / bf16, portable and with the CPU's instructions chosen at run time.
// The rules both kinds of code follow are in half.h; test_half.cpp holds them to it.
#include "kernels/half.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define MEMSTRAT_HALF_X86 1
#else
#define MEMSTRAT_HALF_X86 0
#endif

namespace memstrat {

namespace {

std::uint32_t bits_of(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

float float_of(std::uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// ---- portable ---------------------------------------------------------------

std::uint16_t narrow_f16(std::uint32_t x) {
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t ax = x & 0x7FFFFFFFu;
  // NaN: quiet, payload truncated (as VCVTPS2PH).
  if (ax > 0x7F800000u) return std::uint16_t(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
  // From 65520 (halfway between 65504 and 2^16; ties go to the even 2^16) up, and inf.
  if (ax >= 0x477FF000u) return std::uint16_t(sign | 0x7C00u);
  if (ax >= 0x38800000u) {  // a normal fp16 (from 2^-14): rebias the exponent, round 13 bits off
    const std::uint32_t rebiased = ax - 0x38000000u;
    return std::uint16_t(sign | ((rebiased + 0xFFFu + ((rebiased >> 13) & 1u)) >> 13));
  }
  if (ax <= 0x33000000u) return std::uint16_t(sign);  // up to 2^-25, half the smallest subnormal: zero
  // A subnormal fp16: m * 2^-24, rounded to nearest even. Rounding up may give 0x400,
  // which is the smallest normal, correctly encoded.
  const std::uint32_t exponent = ax >> 23;  // 102..112
  const std::uint32_t mantissa = (ax & 0x7FFFFFu) | 0x800000u;
  const std::uint32_t shift = 126u - exponent;  // 14..24
  std::uint32_t q = mantissa >> shift;
  const std::uint32_t rest = mantissa & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  if (rest > half || (rest == half && (q & 1u) != 0)) ++q;
  return std::uint16_t(sign | q);
}

std::uint32_t widen_f16(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  std::uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0x1F)  // inf, or NaN made quiet (as VCVTPH2PS)
    return sign | 0x7F800000u | (mantissa << 13) | (mantissa != 0 ? 0x400000u : 0u);
  if (exponent != 0) return sign | ((exponent + 112u) << 23) | (mantissa << 13);
  if (mantissa == 0) return sign;
  // Subnormal: normalise. mantissa * 2^-24 = 1.f * 2^(e - 15) for e as counted here.
  std::uint32_t e = 1;
  while ((mantissa & 0x400u) == 0) mantissa <<= 1, --e;
  return sign | ((e + 112u) << 23) | ((mantissa & 0x3FFu) << 13);
}

// As VCVTNEPS2BF16 (Intel SDM pseudocode): denormal inputs are zero, NaN is
// truncated and made quiet, everything else rounds to nearest even.
std::uint16_t narrow_bf16(std::uint32_t x) {
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return std::uint16_t((x >> 16) | 0x40u);
  if ((x & 0x7F800000u) == 0) return std::uint16_t((x >> 16) & 0x8000u);
  return std::uint16_t((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

void narrow_f16_portable(std::uint16_t* out, const float* in, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = narrow_f16(bits_of(in[i]));
}
void widen_f16_portable(float* out, const std::uint16_t* in, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = float_of(widen_f16(in[i]));
}
void narrow_bf16_portable(std::uint16_t* out, const float* in, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = narrow_bf16(bits_of(in[i]));
}
void widen_bf16_portable(float* out, const std::uint16_t* in, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = float_of(std::uint32_t(in[i]) << 16);
}

// ---- x86, chosen at run time --------------------------------------------------
// Tails shorter than a vector go through a small stack copy, so that every
// element of an array is converted by the same instruction.

#if MEMSTRAT_HALF_X86
// GCC 12 warns about _mm512_undefined_* inside its own intrinsics (a false positive).
#pragma GCC diagnostic push
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

__attribute__((target("avx,f16c"))) void narrow_f16_f16c(std::uint16_t* out, const float* in, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
  if (i < n) {
    float tail_in[8] = {};
    std::uint16_t tail_out[8];
    std::memcpy(tail_in, in + i, (n - i) * sizeof(float));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(tail_out),
                     _mm256_cvtps_ph(_mm256_loadu_ps(tail_in), _MM_FROUND_TO_NEAREST_INT));
    std::memcpy(out + i, tail_out, (n - i) * sizeof(std::uint16_t));
  }
}

__attribute__((target("avx,f16c"))) void widen_f16_f16c(float* out, const std::uint16_t* in, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  if (i < n) {
    std::uint16_t tail_in[8] = {};
    float tail_out[8];
    std::memcpy(tail_in, in + i, (n - i) * sizeof(std::uint16_t));
    _mm256_storeu_ps(tail_out, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tail_in))));
    std::memcpy(out + i, tail_out, (n - i) * sizeof(float));
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void narrow_bf16_avx512(std::uint16_t* out,
                                                                                        const float* in,
                                                                                        std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh packed = _mm512_cvtneps_pbh(_mm512_loadu_ps(in + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), reinterpret_cast<const __m256i&>(packed));
  }
  if (i < n) {
    const __mmask16 mask = __mmask16((1u << (n - i)) - 1u);
    const __m256bh packed = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, in + i));
    _mm256_mask_storeu_epi16(out + i, mask, reinterpret_cast<const __m256i&>(packed));
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void widen_bf16_avx512(float* out, const std::uint16_t* in,
                                                                            std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)));
    _mm512_storeu_si512(out + i, _mm512_slli_epi32(wide, 16));
  }
  if (i < n) {
    const __mmask16 mask = __mmask16((1u << (n - i)) - 1u);
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, in + i));
    _mm512_mask_storeu_ps(out + i, mask, _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
  }
}

__attribute__((target("avx2"))) void widen_bf16_avx2(float* out, const std::uint16_t* in, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm256_slli_epi32(wide, 16));
  }
  widen_bf16_portable(out + i, in + i, n - i);  // a shift: the same bits either way
}

#pragma GCC diagnostic pop
#endif  // MEMSTRAT_HALF_X86

// ---- dispatch -----------------------------------------------------------------

bool forced_portable() {
  const char* value = std::getenv("MEMSTRAT_HALF_PORTABLE");
  return value != nullptr && *value != '\0' && std::strcmp(value, "0") != 0;
}

enum class Path { portable, f16c, avx512bf16, avx512, avx2 };

const char* name_of(Path path) {
  switch (path) {
    case Path::f16c:
      return "f16c";
    case Path::avx512bf16:
      return "avx512bf16";
    case Path::avx512:
      return "avx512";
    case Path::avx2:
      return "avx2";
    case Path::portable:
      break;
  }
  return "portable";
}

struct Features {
  bool f16c = false, avx512bf16 = false, avx512 = false, avx2 = false;
};

const Features& features() {
  static const Features f = [] {
    Features out;
#if MEMSTRAT_HALF_X86
    __builtin_cpu_init();
    // CPUID leaf 1 for F16C: clang 14's __builtin_cpu_supports does not know "f16c".
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    out.f16c = __builtin_cpu_supports("avx") && __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
    out.avx512 =
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    out.avx512bf16 = out.avx512 && __builtin_cpu_supports("avx512bf16");
    out.avx2 = __builtin_cpu_supports("avx2");
#endif
    return out;
  }();
  return f;
}

Path f16_narrow() { return !forced_portable() && features().f16c ? Path::f16c : Path::portable; }
Path f16_widen() { return f16_narrow(); }
Path bf16_narrow() { return !forced_portable() && features().avx512bf16 ? Path::avx512bf16 : Path::portable; }
Path bf16_widen() {
  if (forced_portable()) return Path::portable;
  return features().avx512 ? Path::avx512 : features().avx2 ? Path::avx2 : Path::portable;
}

// Splits large arrays over OpenMP threads; small ones (most of a layer's
// activations at small batch) are not worth waking the team for.
constexpr std::size_t kParallelMin = std::size_t(1) << 16;
constexpr std::size_t kChunk = std::size_t(1) << 14;  // a multiple of every vector width

template <typename Out, typename In>
void run_chunks(void (*kernel)(Out*, const In*, std::size_t), Out* out, const In* in, std::size_t n) {
  if (n < kParallelMin) {
    kernel(out, in, n);
    return;
  }
  const auto chunks = std::int64_t((n + kChunk - 1) / kChunk);
#pragma omp parallel for schedule(static)
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::size_t begin = std::size_t(c) * kChunk;
    kernel(out + begin, in + begin, (n - begin < kChunk ? n - begin : kChunk));
  }
}

}  // namespace

void f32_to_f16(std::uint16_t* out, const float* in, std::size_t n) {
#if MEMSTRAT_HALF_X86
  if (f16_narrow() == Path::f16c) return run_chunks(narrow_f16_f16c, out, in, n);
#endif
  run_chunks(narrow_f16_portable, out, in, n);
}

void f16_to_f32(float* out, const std::uint16_t* in, std::size_t n) {
#if MEMSTRAT_HALF_X86
  if (f16_widen() == Path::f16c) return run_chunks(widen_f16_f16c, out, in, n);
#endif
  run_chunks(widen_f16_portable, out, in, n);
}

void f32_to_bf16(std::uint16_t* out, const float* in, std::size_t n) {
#if MEMSTRAT_HALF_X86
  if (bf16_narrow() == Path::avx512bf16) return run_chunks(narrow_bf16_avx512, out, in, n);
#endif
  run_chunks(narrow_bf16_portable, out, in, n);
}

void bf16_to_f32(float* out, const std::uint16_t* in, std::size_t n) {
#if MEMSTRAT_HALF_X86
  switch (bf16_widen()) {
    case Path::avx512:
      return run_chunks(widen_bf16_avx512, out, in, n);
    case Path::avx2:
      return run_chunks(widen_bf16_avx2, out, in, n);
    default:
      break;
  }
#endif
  run_chunks(widen_bf16_portable, out, in, n);
}

std::uint16_t f32_to_f16(float value) { return narrow_f16(bits_of(value)); }
float f16_to_f32(std::uint16_t bits) { return float_of(widen_f16(bits)); }
std::uint16_t f32_to_bf16(float value) { return narrow_bf16(bits_of(value)); }
float bf16_to_f32(std::uint16_t bits) { return float_of(std::uint32_t(bits) << 16); }

const char* f16_narrow_path() { return name_of(f16_narrow()); }
const char* f16_widen_path() { return name_of(f16_widen()); }
const char* bf16_narrow_path() { return name_of(bf16_narrow()); }
const char* bf16_widen_path() { return name_of(bf16_widen()); }

}  // namespace memstrat
