// Shapes, tensor views and the small helpers every op shares.
//
// A Tensor is a view: a pointer, a shape and a dtype. It owns nothing; the
// memory behind it is a Buffer taken from the allocator under test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace memstrat {

// NCHW. Flat tensors (the inputs of linear layers) use n and c only.
struct Shape {
  int n = 1, c = 1, h = 1, w = 1;
  std::size_t numel() const { return std::size_t(n) * c * h * w; }
  std::size_t per_sample() const { return std::size_t(c) * h * w; }
  Shape with_batch(int batch) const { return {batch, c, h, w}; }
  std::string str() const;
  bool operator==(const Shape&) const = default;
};

enum class DType : std::uint8_t { f32, f16, bf16 };
std::size_t dtype_bytes(DType dtype);

struct Tensor {
  void* data = nullptr;
  Shape shape;
  DType dtype = DType::f32;
  float* f32() const { return static_cast<float*>(data); }
};

// A broken internal invariant: a bug in memstrat, reported with its call site.
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

#define MEMSTRAT_CHECK(cond, what)                                                                             \
  do {                                                                                                         \
    if (!(cond))                                                                                               \
      throw ::memstrat::InternalError(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + (what)); \
  } while (0)

// Deterministic random numbers that do not depend on the standard library's
// distributions (those differ between implementations): splitmix64 + Box-Muller.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next_u64();
  float uniform();  // [0, 1)
  float normal();   // mean 0, standard deviation 1

 private:
  std::uint64_t state_;
  bool has_spare_ = false;
  float spare_ = 0.0f;
};

}  // namespace memstrat
