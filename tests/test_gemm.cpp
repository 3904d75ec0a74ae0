// Tests of kernels/gemm: every kernel the CPU supports (forced in turn through
// MEMSTRAT_GEMM_KERNEL, which gemm re-reads on every call) against a naive
// double-precision reference, plus workspace use and bitwise determinism.
//
// Tolerance: |C - ref| <= 1e-5 * sqrt(K + 1) * (|alpha| * sum_k |op(A)_ik op(B)_kj|
// + |beta * C0_ij|) + 1e-30, i.e. a relative error of about 1e-5 * sqrt(K)
// scaled by the sum of the magnitudes that went into the element (fp32 has
// eps = 6e-8; blocked summation of K terms stays well inside this).
#include <omp.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "tests/support.h"

using memstrat::gemm;
using memstrat::GemmWorkspace;
using memstrat::Trans;
using memstrat::test::Threads;

namespace {

constexpr const char* kEnv = "MEMSTRAT_GEMM_KERNEL";

// Forces a kernel for the life of the object; restores the environment after.
class ForceKernel {
 public:
  explicit ForceKernel(const std::string& name) {
    if (const char* old = std::getenv(kEnv)) old_ = old, had_ = true;
    setenv(kEnv, name.c_str(), 1);
  }
  ~ForceKernel() {
    if (had_)
      setenv(kEnv, old_.c_str(), 1);
    else
      unsetenv(kEnv);
  }
  ForceKernel(const ForceKernel&) = delete;
  ForceKernel& operator=(const ForceKernel&) = delete;

 private:
  std::string old_;
  bool had_ = false;
};

// The kernels this CPU runs: forcing one it lacks falls back to another name.
std::vector<std::string> supported_kernels() {
  std::vector<std::string> out;
  for (const char* name : {"portable", "avx2", "avx512"}) {
    ForceKernel force(name);
    if (std::string(memstrat::gemm_kernel_name()) == name) out.emplace_back(name);
  }
  return out;
}

// A row-major matrix of `rows` x `cols` stored with leading dimension ld >= cols.
struct Mat {
  int rows = 0, cols = 0, ld = 0;
  std::vector<float> v;
  Mat(int r, int c, int pad, std::mt19937& rng) : rows(r), cols(c), ld(c + pad) {
    v.resize(static_cast<std::size_t>(std::max(r, 1)) * std::max(ld, 1));
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (float& x : v) x = dist(rng);
  }
  float at(int i, int j) const { return v[static_cast<std::size_t>(i) * ld + j]; }
};

struct Case {
  Trans ta, tb;
  int M, N, K;
  float alpha, beta;
  int pad_a = 0, pad_b = 0, pad_c = 0;
  bool nan_c = false;  // fill C with NaN (only meaningful with beta == 0)
};

std::string describe(const Case& c, const std::string& kernel, bool ws) {
  return kernel + (ws ? " ws" : " own") + " " + (c.ta == Trans::yes ? "T" : "N") + (c.tb == Trans::yes ? "T" : "N") +
         " M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
         " alpha=" + std::to_string(c.alpha) + " beta=" + std::to_string(c.beta) + " pads=" + std::to_string(c.pad_a) +
         "," + std::to_string(c.pad_b) + "," + std::to_string(c.pad_c);
}

// 64-byte aligned workspace of gemm_workspace_bytes(threads) bytes.
struct Workspace {
  explicit Workspace(int threads) {
    bytes = memstrat::gemm_workspace_bytes(threads);
    data = static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
  }
  ~Workspace() { std::free(data); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  GemmWorkspace get() const { return GemmWorkspace{data, bytes}; }
  float* data;
  std::size_t bytes;
};

// Runs one case and checks every element of C (and that the padding of C
// between rows is untouched). Returns the number of bad elements.
int check_case(const Case& c, const GemmWorkspace* ws, std::mt19937& rng) {
  const int a_rows = c.ta == Trans::no ? c.M : c.K, a_cols = c.ta == Trans::no ? c.K : c.M;
  const int b_rows = c.tb == Trans::no ? c.K : c.N, b_cols = c.tb == Trans::no ? c.N : c.K;
  const Mat A(a_rows, a_cols, c.pad_a, rng), B(b_rows, b_cols, c.pad_b, rng);
  Mat C(c.M, c.N, c.pad_c, rng);
  const float sentinel = 12345.0f;
  for (int i = 0; i < c.M; ++i)
    for (int j = 0; j < C.ld; ++j) {
      float& x = C.v[static_cast<std::size_t>(i) * C.ld + j];
      if (j >= c.N)
        x = sentinel;
      else if (c.nan_c)
        x = std::numeric_limits<float>::quiet_NaN();
    }
  const Mat C0 = C;

  gemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.v.data(), std::max(A.ld, 1), B.v.data(), std::max(B.ld, 1), c.beta,
       C.v.data(), std::max(C.ld, 1), ws);

  int bad = 0;
  const double tol = 1e-5 * std::sqrt(double(c.K) + 1.0);
  for (int i = 0; i < c.M; ++i) {
    for (int j = 0; j < c.N; ++j) {
      double sum = 0, mag = 0;
      for (int k = 0; k < c.K; ++k) {
        const double a = c.ta == Trans::no ? A.at(i, k) : A.at(k, i);
        const double b = c.tb == Trans::no ? B.at(k, j) : B.at(j, k);
        sum += a * b;
        mag += std::fabs(a * b);
      }
      double ref = double(c.alpha) * sum;
      mag *= std::fabs(c.alpha);
      if (c.beta != 0.0f) {
        ref += double(c.beta) * C0.at(i, j);
        mag += std::fabs(double(c.beta) * C0.at(i, j));
      }
      const double got = C.at(i, j);
      if (!(std::fabs(got - ref) <= tol * mag + 1e-30)) {
        if (bad < 3) UNSCOPED_INFO("C(" << i << "," << j << ") = " << got << ", want " << ref);
        ++bad;
      }
    }
    for (int j = c.N; j < C.ld; ++j)
      if (C.at(i, j) != sentinel) {
        if (bad < 3) UNSCOPED_INFO("padding of C row " << i << " overwritten");
        ++bad;
      }
  }
  return bad;
}

bool same_bits(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

const Trans kTrans[2] = {Trans::no, Trans::yes};

}  // namespace

TEST_CASE("gemm: kernel name and forcing", "[gemm]") {
  const std::string best = memstrat::gemm_kernel_name();
  CHECK((best == "avx512" || best == "avx2" || best == "portable"));
  const auto kernels = supported_kernels();
  REQUIRE(!kernels.empty());
  CHECK(kernels.front() == "portable");
  CHECK(kernels.back() == best);
  {
    ForceKernel force("no-such-kernel");
    CHECK(std::string(memstrat::gemm_kernel_name()) == best);
  }
  CHECK(std::string(memstrat::gemm_kernel_name()) == best);
  CHECK(memstrat::gemm_workspace_bytes(2) >= memstrat::gemm_workspace_bytes(1));
  CHECK(memstrat::gemm_workspace_bytes(1) > 0);
}

TEST_CASE("gemm: small and odd sizes, all transposes, every kernel", "[gemm]") {
  const int sizes[] = {1, 2, 3, 7, 17, 31, 33, 65, 127};
  const int ks[] = {1, 2, 3, 7, 17, 31, 33, 65, 127};
  std::mt19937 rng(42);
  for (const auto& kernel : supported_kernels()) {
    ForceKernel force(kernel);
    int bad = 0, n = 0, idx = 0;
    for (Trans ta : kTrans)
      for (Trans tb : kTrans)
        for (int M : sizes)
          for (int N : sizes) {
            // K cycles through its list so that every (M, N) pair meets several K.
            for (int r = 0; r < 2; ++r) {
              const int K = ks[(idx++ * 5 + r * 3) % 9];
              const Case c{ta, tb, M, N, K, 1.0f, 0.0f, 0, 0, 0, true};
              const int b = check_case(c, nullptr, rng);
              if (b) UNSCOPED_INFO(describe(c, kernel, false));
              bad += b;
              ++n;
            }
          }
    INFO(kernel << ": " << n << " cases");
    CHECK(bad == 0);
  }
}

TEST_CASE("gemm: alpha, beta, leading dimensions, workspace, every kernel", "[gemm]") {
  struct AB {
    float alpha, beta;
    bool nan_c;
  };
  const AB abs[] = {{1.0f, 0.0f, true},   {1.0f, 1.0f, false}, {0.5f, -1.5f, false}, {-2.0f, 0.0f, true},
                    {0.75f, 1.0f, false}, {0.0f, 0.5f, false}, {0.0f, 0.0f, true}};
  struct Dims {
    int M, N, K;
  };
  // Across the register tile (12 x 32 / 6 x 16 / 4 x 16), the K block and the
  // row / column blocks of every kernel.
  const Dims dims[] = {{1, 1, 1},      {5, 3, 2},      {13, 33, 9},    {47, 95, 31},
                       {100, 37, 257}, {37, 529, 400}, {161, 70, 800}, {530, 41, 5}};
  const int threads = omp_get_max_threads();
  Workspace work(threads);
  const GemmWorkspace ws = work.get();
  std::mt19937 rng(7);
  for (const auto& kernel : supported_kernels()) {
    ForceKernel force(kernel);
    int bad = 0, n = 0, idx = 0;
    for (Trans ta : kTrans)
      for (Trans tb : kTrans)
        for (const Dims& d : dims) {
          const AB& ab = abs[idx % 7];
          const int pads[3] = {idx % 3 == 0 ? 0 : 5, idx % 2 == 0 ? 3 : 0, idx % 4 == 1 ? 0 : 7};
          for (bool use_ws : {false, true}) {
            const Case c{ta, tb, d.M, d.N, d.K, ab.alpha, ab.beta, pads[0], pads[1], pads[2], ab.nan_c};
            const int b = check_case(c, use_ws ? &ws : nullptr, rng);
            if (b) UNSCOPED_INFO(describe(c, kernel, use_ws));
            bad += b;
            ++n;
          }
          ++idx;
        }
    INFO(kernel << ": " << n << " cases");
    CHECK(bad == 0);
  }
}

TEST_CASE("gemm: K = 0 scales C by beta", "[gemm]") {
  std::mt19937 rng(3);
  for (const auto& kernel : supported_kernels()) {
    ForceKernel force(kernel);
    for (Trans ta : kTrans)
      for (Trans tb : kTrans) {
        CHECK(check_case(Case{ta, tb, 9, 21, 0, 1.0f, 0.0f, 0, 0, 4, true}, nullptr, rng) == 0);
        CHECK(check_case(Case{ta, tb, 9, 21, 0, 1.0f, 1.0f, 0, 0, 4, false}, nullptr, rng) == 0);
        CHECK(check_case(Case{ta, tb, 9, 21, 0, 2.0f, -0.5f, 0, 0, 0, false}, nullptr, rng) == 0);
      }
  }
  // M or N = 0: nothing to do, nothing touched.
  float c = 1.0f;
  gemm(Trans::no, Trans::no, 0, 1, 5, 1.0f, nullptr, 5, nullptr, 1, 0.0f, &c, 1);
  gemm(Trans::no, Trans::no, 1, 0, 5, 1.0f, nullptr, 5, nullptr, 1, 0.0f, &c, 1);
  CHECK(c == 1.0f);
}

TEST_CASE("gemm: thread counts, and calls from inside a parallel region", "[gemm]") {
  std::mt19937 rng(11);
  for (const auto& kernel : supported_kernels()) {
    ForceKernel force(kernel);
    for (int t : {1, 2, 3}) {
      Threads threads(t);
      Workspace work(t);
      const GemmWorkspace ws = work.get();
      CHECK(check_case(Case{Trans::no, Trans::no, 300, 257, 130, 1.0f, 0.0f, 1, 2, 3, true}, &ws, rng) == 0);
      CHECK(check_case(Case{Trans::yes, Trans::yes, 31, 1000, 70, 1.0f, 1.0f}, nullptr, rng) == 0);
      CHECK(check_case(Case{Trans::no, Trans::yes, 700, 20, 90, 0.5f, 2.0f}, nullptr, rng) == 0);
    }
  }
  // Nested: each thread of an outer region runs its own product, single-threaded.
  const int M = 45, N = 77, K = 150;
  Mat A(M, K, 0, rng), B(K, N, 0, rng);
  std::vector<float> ref(static_cast<std::size_t>(M) * N);
  gemm(Trans::no, Trans::no, M, N, K, 1.0f, A.v.data(), K, B.v.data(), N, 0.0f, ref.data(), N);
  const int outer = 4;
  std::vector<std::vector<float>> out(outer, std::vector<float>(ref.size(), 0.0f));
#pragma omp parallel for num_threads(outer) schedule(static, 1)
  for (int t = 0; t < outer; ++t)
    gemm(Trans::no, Trans::no, M, N, K, 1.0f, A.v.data(), K, B.v.data(), N, 0.0f, out[t].data(), N);
  for (int t = 0; t < outer; ++t) CHECK(same_bits(out[t], ref));
}

TEST_CASE("gemm: bitwise deterministic across addresses, calls and workspaces", "[gemm]") {
  struct Dims {
    int M, N, K;
    Trans ta, tb;
  };
  const Dims dims[] = {{37, 71, 300, Trans::no, Trans::no},
                       {129, 257, 520, Trans::yes, Trans::no},
                       {64, 300, 1000, Trans::no, Trans::yes},
                       {200, 33, 64, Trans::yes, Trans::yes}};
  std::mt19937 rng(5);
  for (const auto& kernel : supported_kernels()) {
    ForceKernel force(kernel);
    for (const Dims& d : dims) {
      INFO(kernel << " M=" << d.M << " N=" << d.N << " K=" << d.K);
      const std::size_t na = std::size_t(d.M) * d.K, nb = std::size_t(d.K) * d.N, nc = std::size_t(d.M) * d.N;
      const int lda = d.ta == Trans::no ? d.K : d.M, ldb = d.tb == Trans::no ? d.N : d.K;
      std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
      std::vector<float> a(na), b(nb), c0(nc);
      for (float& x : a) x = dist(rng);
      for (float& x : b) x = dist(rng);
      for (float& x : c0) x = dist(rng);

      // Runs the product on copies of the inputs placed `shift` floats past a
      // 64-byte boundary; returns C.
      auto run = [&](int shift, const GemmWorkspace* ws) {
        std::vector<float> buf(na + nb + nc + 64 * 3 + 16);
        auto place = [&](std::size_t at) {
          float* p = buf.data() + at;
          while (reinterpret_cast<std::uintptr_t>(p) % 64) ++p;
          return p + shift;
        };
        float* pa = place(0);
        float* pb = place(na + 48);
        float* pc = place(na + nb + 96);
        std::copy(a.begin(), a.end(), pa);
        std::copy(b.begin(), b.end(), pb);
        std::copy(c0.begin(), c0.end(), pc);
        gemm(d.ta, d.tb, d.M, d.N, d.K, 0.75f, pa, lda, pb, ldb, 1.0f, pc, d.N, ws);
        return std::vector<float>(pc, pc + nc);
      };
      Workspace work(omp_get_max_threads());
      const GemmWorkspace ws = work.get();
      const auto ref = run(0, nullptr);
      CHECK(same_bits(run(0, nullptr), ref));  // repeated call
      CHECK(same_bits(run(1, nullptr), ref));  // misaligned by 4 bytes
      CHECK(same_bits(run(3, nullptr), ref));
      CHECK(same_bits(run(0, &ws), ref));  // caller's workspace
      CHECK(same_bits(run(1, &ws), ref));
      // Workspace too small: gemm falls back to its own buffers.
      const GemmWorkspace small{ws.data, 64};
      CHECK(same_bits(run(2, &small), ref));
      // Misaligned workspace: still the same bits.
      const GemmWorkspace odd{ws.data + 1, ws.bytes - sizeof(float)};
      CHECK(same_bits(run(1, &odd), ref));
      // This implementation also gives the same bits for any thread count (the
      // interface promises only: for a given one).
      for (int t : {1, 3}) {
        Threads threads(t);
        CHECK(same_bits(run(1, nullptr), ref));
      }
    }
  }
}

TEST_CASE("gemm: packs into the caller's workspace when it is large enough", "[gemm]") {
  std::mt19937 rng(9);
  const int M = 70, N = 90, K = 50;
  Mat A(M, K, 0, rng), B(K, N, 0, rng);
  std::vector<float> c1(std::size_t(M) * N), c2(c1.size());
  for (int t : {1, 2}) {
    Threads threads(t);
    Workspace work(t);
    const std::size_t n = work.bytes / sizeof(float);
    std::fill(work.data, work.data + n, -7.0f);
    const GemmWorkspace ws = work.get();
    gemm(Trans::no, Trans::no, M, N, K, 1.0f, A.v.data(), K, B.v.data(), N, 0.0f, c1.data(), N, &ws);
    CHECK(std::count(work.data, work.data + n, -7.0f) < static_cast<std::ptrdiff_t>(n));
    gemm(Trans::no, Trans::no, M, N, K, 1.0f, A.v.data(), K, B.v.data(), N, 0.0f, c2.data(), N);
    CHECK(same_bits(c1, c2));
  }
}
