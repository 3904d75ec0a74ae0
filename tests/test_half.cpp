// fp32 <-> fp16 / bf16: the rounding rules of kernels/half.h, and the SIMD paths
// held bitwise to the portable ones.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/half.h"

using namespace memstrat;

namespace {

std::uint32_t bits(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
float from_bits(std::uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// Sets MEMSTRAT_HALF_PORTABLE for its lifetime, restoring what was there.
class ForcePortable {
 public:
  explicit ForcePortable(bool on) {
    const char* old = std::getenv("MEMSTRAT_HALF_PORTABLE");
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (on)
      setenv("MEMSTRAT_HALF_PORTABLE", "1", 1);
    else
      unsetenv("MEMSTRAT_HALF_PORTABLE");
  }
  ~ForcePortable() {
    if (had_)
      setenv("MEMSTRAT_HALF_PORTABLE", old_.c_str(), 1);
    else
      unsetenv("MEMSTRAT_HALF_PORTABLE");
  }

 private:
  bool had_ = false;
  std::string old_;
};

// Converts through the array functions on whichever path is chosen now.
std::uint16_t f16_array(float f) {
  std::uint16_t out;
  f32_to_f16(&out, &f, 1);
  return out;
}
std::uint16_t bf16_array(float f) {
  std::uint16_t out;
  f32_to_bf16(&out, &f, 1);
  return out;
}

// A large array: random bit patterns (every class of float), random normal values,
// and the special cases, with a length that leaves a tail after the vectors.
std::vector<float> test_inputs() {
  std::mt19937_64 rng(42);
  std::vector<float> v;
  const float specials[] = {0.0f,
                            -0.0f,
                            1.0f,
                            -1.0f,
                            65504.0f,
                            65519.0f,
                            65520.0f,
                            -65520.0f,
                            1e30f,
                            -1e-30f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::min(),
                            std::numeric_limits<float>::max(),
                            -std::numeric_limits<float>::max(),
                            from_bits(0x7F800001u),
                            from_bits(0xFF800001u),
                            from_bits(0x7FBFFFFFu),
                            from_bits(0x33000000u),
                            from_bits(0x33000001u),
                            from_bits(0x387FC000u),
                            from_bits(0x3F808000u),
                            from_bits(0x3F818000u),
                            from_bits(0x7F7F8000u),
                            from_bits(0x007FFFFFu),
                            from_bits(0x80000001u)};
  for (float s : specials) v.push_back(s);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  while (v.size() < (1u << 18) + 13) {
    v.push_back(from_bits(std::uint32_t(rng())));
    v.push_back(normal(rng));
    // Exact ties of both formats near 1: the low 13 (fp16) or 16 (bf16) bits at half.
    v.push_back(from_bits(0x3F800000u | (std::uint32_t(rng()) & 0x7FE000u) | 0x1000u));
    v.push_back(from_bits(0x3F800000u | (std::uint32_t(rng()) & 0x7F0000u) | 0x8000u));
  }
  for (int i = 0; i < 7; ++i) v.push_back(specials[i]);  // tail past the last full vector
  return v;
}

}  // namespace

TEST_CASE("fp16: exact values, ties to even, overflow, infinities, NaN", "[half]") {
  for (bool portable : {true, false}) {
    ForcePortable force(portable);
    INFO("path " << f16_narrow_path());
    for (auto convert : {+[](float f) { return f32_to_f16(f); }, +[](float f) { return f16_array(f); }}) {
      REQUIRE(convert(0.0f) == 0x0000);
      REQUIRE(convert(-0.0f) == 0x8000);
      REQUIRE(convert(1.0f) == 0x3C00);
      REQUIRE(convert(-2.0f) == 0xC000);
      REQUIRE(convert(0.5f) == 0x3800);
      REQUIRE(convert(65504.0f) == 0x7BFF);
      // Ties to even: 1 + 2^-11 lies halfway between 1 (even) and 1 + 2^-10.
      REQUIRE(convert(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);
      REQUIRE(convert(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);
      REQUIRE(convert(std::nextafter(1.0f + std::ldexp(1.0f, -11), 2.0f)) == 0x3C01);
      // 65520 is halfway between 65504 and 2^16: ties to even overflow to inf.
      REQUIRE(convert(65519.0f) == 0x7BFF);
      REQUIRE(convert(65520.0f) == 0x7C00);
      REQUIRE(convert(-65520.0f) == 0xFC00);
      REQUIRE(convert(1e6f) == 0x7C00);
      REQUIRE(convert(INFINITY) == 0x7C00);
      REQUIRE(convert(-INFINITY) == 0xFC00);
      // NaN stays NaN, even when its payload lies in bits that are cut off.
      for (std::uint32_t nan : {0x7FC00000u, 0x7F800001u, 0xFF800001u, 0x7FBFFFFFu}) {
        const std::uint16_t h = convert(from_bits(nan));
        REQUIRE((h & 0x7C00) == 0x7C00);
        REQUIRE((h & 0x0200) != 0);  // quiet
        REQUIRE(std::isnan(f16_to_f32(h)));
      }
    }
  }
  REQUIRE(f16_to_f32(0x7C00) == INFINITY);
  REQUIRE(f16_to_f32(0xFC00) == -INFINITY);
  REQUIRE(f16_to_f32(0x3C00) == 1.0f);
  REQUIRE(f16_to_f32(0x7BFF) == 65504.0f);
}

TEST_CASE("fp16 subnormals are produced and read exactly", "[half]") {
  for (bool portable : {true, false}) {
    ForcePortable force(portable);
    INFO("path " << f16_narrow_path());
    const float tiny = std::ldexp(1.0f, -24);  // the smallest fp16 subnormal
    REQUIRE(f16_array(tiny) == 0x0001);
    REQUIRE(f16_array(-tiny) == 0x8001);
    REQUIRE(f16_array(tiny / 2) == 0x0000);               // a tie: to the even zero
    REQUIRE(f16_array(tiny * 1.5f) == 0x0002);            // a tie between 1 and 2: to 2
    REQUIRE(f16_array(tiny * 2.5f) == 0x0002);            // between 2 and 3: to 2
    REQUIRE(f16_array(tiny * 0.75f) == 0x0001);           // above the tie
    REQUIRE(f16_array(1023 * tiny) == 0x03FF);            // the largest subnormal
    REQUIRE(f16_array(std::ldexp(1.0f, -14)) == 0x0400);  // the smallest normal
    REQUIRE(f16_array(std::numeric_limits<float>::denorm_min()) == 0x0000);
    // Every fp16 value widens exactly and narrows back to itself (NaN: to a NaN).
    std::vector<std::uint16_t> all(65536), back(65536);
    std::vector<float> wide(65536);
    for (int i = 0; i < 65536; ++i) all[i] = std::uint16_t(i);
    f16_to_f32(wide.data(), all.data(), all.size());
    f32_to_f16(back.data(), wide.data(), wide.size());
    for (int i = 0; i < 65536; ++i) {
      const bool nan = (i & 0x7C00) == 0x7C00 && (i & 0x3FF) != 0;
      if (nan) {
        REQUIRE(std::isnan(wide[i]));
        REQUIRE((back[i] & 0x7E00) == 0x7E00);
      } else {
        REQUIRE(back[i] == all[i]);
      }
      if ((i & 0x7C00) == 0) REQUIRE(wide[i] == std::ldexp(float(i & 0x3FF), -24) * ((i & 0x8000) ? -1.0f : 1.0f));
    }
  }
}

TEST_CASE("bf16: ties to even, infinities, NaN stays a quiet NaN, fp32 subnormals to zero", "[half]") {
  for (bool portable : {true, false}) {
    ForcePortable force(portable);
    INFO("path " << bf16_narrow_path());
    for (auto convert : {+[](float f) { return f32_to_bf16(f); }, +[](float f) { return bf16_array(f); }}) {
      REQUIRE(convert(1.0f) == 0x3F80);
      REQUIRE(convert(-2.0f) == 0xC000);
      REQUIRE(convert(3.0f) == 0x4040);
      REQUIRE(convert(1.0f + std::ldexp(1.0f, -7)) == 0x3F81);  // exact
      // 1 + 2^-8 is halfway between 1 (even) and 1 + 2^-7.
      REQUIRE(convert(1.0f + std::ldexp(1.0f, -8)) == 0x3F80);
      REQUIRE(convert(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3F82);
      REQUIRE(convert(std::nextafter(1.0f + std::ldexp(1.0f, -8), 2.0f)) == 0x3F81);
      REQUIRE(convert(INFINITY) == 0x7F80);
      REQUIRE(convert(-INFINITY) == 0xFF80);
      // Rounding up past the largest finite bf16 gives inf, as it should.
      REQUIRE(convert(std::numeric_limits<float>::max()) == 0x7F80);
      // NaN with its payload only in the cut-off bits: rounding would make it inf; it stays NaN.
      for (std::uint32_t nan : {0x7FC00000u, 0x7F800001u, 0xFF800001u, 0x7FBFFFFFu, 0x7FFFFFFFu}) {
        const std::uint16_t b = convert(from_bits(nan));
        REQUIRE(std::isnan(bf16_to_f32(b)));
        REQUIRE((b & 0x0040) != 0);  // quiet
        REQUIRE((b & 0x8000) == ((nan >> 16) & 0x8000));
      }
      // fp32 subnormals become zero of their sign (VCVTNEPS2BF16 treats them as zero).
      REQUIRE(convert(std::numeric_limits<float>::denorm_min()) == 0x0000);
      REQUIRE(convert(from_bits(0x807FFFFFu)) == 0x8000);
      REQUIRE(convert(std::numeric_limits<float>::min()) == 0x0080);  // the smallest normal stays
    }
  }
  // Widening is exact: a shift.
  for (std::uint32_t b : {0x3F80u, 0xC000u, 0x7F80u, 0xFF80u, 0x0001u, 0x7FC1u})
    REQUIRE(bits(bf16_to_f32(std::uint16_t(b))) == b << 16);
}

TEST_CASE("SIMD and portable conversions give bitwise the same results", "[half]") {
  const std::vector<float> in = test_inputs();
  const std::size_t n = in.size();
  std::vector<std::uint16_t> h_simd(n), h_port(n), b_simd(n), b_port(n);
  std::vector<float> hw_simd(n), hw_port(n), bw_simd(n), bw_port(n);
  std::string paths;
  {
    ForcePortable force(false);
    paths = std::string(f16_narrow_path()) + " " + bf16_narrow_path() + " " + bf16_widen_path();
    f32_to_f16(h_simd.data(), in.data(), n);
    f32_to_bf16(b_simd.data(), in.data(), n);
    f16_to_f32(hw_simd.data(), h_simd.data(), n);
    bf16_to_f32(bw_simd.data(), b_simd.data(), n);
  }
  {
    ForcePortable force(true);
    REQUIRE(std::string(f16_narrow_path()) == "portable");
    REQUIRE(std::string(bf16_narrow_path()) == "portable");
    REQUIRE(std::string(bf16_widen_path()) == "portable");
    f32_to_f16(h_port.data(), in.data(), n);
    f32_to_bf16(b_port.data(), in.data(), n);
    f16_to_f32(hw_port.data(), h_simd.data(), n);
    bf16_to_f32(bw_port.data(), b_simd.data(), n);
  }
  if (paths == "portable portable portable") WARN("this CPU has neither F16C nor AVX-512: nothing to compare");
  INFO("SIMD paths: " << paths);
  for (std::size_t i = 0; i < n; ++i) {
    INFO("input " << i << " bits " << std::hex << bits(in[i]));
    if (h_simd[i] != h_port[i]) REQUIRE(h_simd[i] == h_port[i]);
    if (b_simd[i] != b_port[i]) REQUIRE(b_simd[i] == b_port[i]);
    if (bits(hw_simd[i]) != bits(hw_port[i])) REQUIRE(bits(hw_simd[i]) == bits(hw_port[i]));
    if (bits(bw_simd[i]) != bits(bw_port[i])) REQUIRE(bits(bw_simd[i]) == bits(bw_port[i]));
  }
  // And a short array, all tail, on both paths.
  std::uint16_t short_simd[5], short_port[5];
  {
    ForcePortable force(false);
    f32_to_f16(short_simd, in.data(), 5);
  }
  {
    ForcePortable force(true);
    f32_to_f16(short_port, in.data(), 5);
  }
  REQUIRE(std::memcmp(short_simd, short_port, sizeof short_simd) == 0);
}
