#include "kernels/tensor.h"

#include <cmath>

namespace memstrat {

std::string Shape::str() const {
  return std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

std::size_t dtype_bytes(DType dtype) { return dtype == DType::f32 ? 4 : 2; }

std::uint64_t Rng::next_u64() {
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

float Rng::uniform() { return float(next_u64() >> 40) * (1.0f / 16777216.0f); }

float Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = double((next_u64() >> 11) + 1) * (1.0 / 9007199254740993.0);  // (0, 1]
  double u2 = double(next_u64() >> 11) * (1.0 / 9007199254740992.0);
  double radius = std::sqrt(-2.0 * std::log(u1));
  spare_ = float(radius * std::sin(2.0 * M_PI * u2));
  has_spare_ = true;
  return float(radius * std::cos(2.0 * M_PI * u2));
}

}  // namespace memstrat
