// Single-precision GEMM: dispatch, threading and workspace. The blocked
// algorithm and the micro-kernels live in gemm_simd.h, compiled once per
// instruction set by gemm_avx512.cpp, gemm_avx2.cpp and gemm_portable.cpp.
//
// Threading: C is cut into a grid of rectangles, one per thread, along whole
// micro-tiles (a static partition chosen from the sizes and the thread count).
// Each thread packs what its rectangle needs into buffers of its own and runs
// the blocked algorithm alone: no barriers, no shared writes. Every element of C
// is computed by the same operations in the same order (K blocks depend on K
// alone) whichever thread computes it, so results depend neither on the thread
// count nor on scheduling, nor on where A, B and C lie in memory.
//
// Kernel choice: the best the CPU supports, unless MEMSTRAT_GEMM_KERNEL names a
// lower one (portable, avx2, avx512; ignored when the CPU lacks it). The
// variable is read on every call, so a test may setenv() between calls.
#include "kernels/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/gemm_internal.h"

namespace memstrat {
namespace {

using gemm_detail::KernelSet;
using gemm_detail::Rect;

struct Cpu {
  bool avx2 = false;
  bool avx512 = false;
};

const Cpu& cpu() {
  static const Cpu c = [] {
    Cpu r;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    r.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    r.avx512 = r.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
#endif
    return r;
  }();
  return c;
}

const KernelSet* select_kernels() {
  const KernelSet* avx512 = cpu().avx512 ? gemm_detail::kernels_avx512() : nullptr;
  const KernelSet* avx2 = cpu().avx2 ? gemm_detail::kernels_avx2() : nullptr;
  const KernelSet* portable = gemm_detail::kernels_portable();
  const KernelSet* best = avx512 ? avx512 : avx2 ? avx2 : portable;
  if (const char* want = std::getenv("MEMSTRAT_GEMM_KERNEL")) {
    if (std::strcmp(want, "portable") == 0) return portable;
    if (std::strcmp(want, "avx2") == 0 && avx2) return avx2;
  }
  return best;
}

constexpr std::size_t kAlign = 64;

std::size_t round_up(std::size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

std::size_t a_bytes(const KernelSet& ks) { return round_up(ks.a_floats * sizeof(float)); }

// One thread's share of a workspace: the largest any kernel set needs, so that
// a workspace sized once fits whichever kernel runs (1.5 MiB with AVX-512).
std::size_t slice_bytes() {
  static const std::size_t bytes = [] {
    std::size_t s = 0;
    for (const KernelSet* ks :
         {gemm_detail::kernels_avx512(), gemm_detail::kernels_avx2(), gemm_detail::kernels_portable()})
      if (ks) s = std::max(s, a_bytes(*ks) + round_up(ks->b_floats * sizeof(float)));
    return s;
  }();
  return bytes;
}

// The calling thread's own packing buffer, allocated once and kept.
float* thread_buffer(std::size_t bytes) {
  struct Buffer {
    void* p = nullptr;
    std::size_t bytes = 0;
    ~Buffer() { release(); }
    void release() {
      if (p) ::operator delete (p, std::align_val_t{kAlign});
      p = nullptr;
      bytes = 0;
    }
  };
  thread_local Buffer buf;
  if (buf.bytes < bytes) {
    buf.release();
    buf.p = ::operator new (round_up(bytes), std::align_val_t{kAlign});
    buf.bytes = bytes;
  }
  return static_cast<float*>(buf.p);  // NOLINT(clang-analyzer-cplusplus.NewDelete): p is new after release()
}

// Static partition of C into tm x tn rectangles of whole micro-tiles.
struct Grid {
  int tm = 1, tn = 1;
};

// Picks the grid for `threads` threads that minimises the largest rectangle's
// cost: its multiply-adds plus the packing of its share of A and B (each packed
// element weighted like kPackCost multiply-adds). tm == 0 when no grid of that
// many threads has a tile for every thread.
Grid choose_grid(int threads, int M, int N, int K, const KernelSet& ks) {
  constexpr double kPackCost = 8.0;
  const long long mt = (M + ks.mr - 1) / ks.mr, nt = (N + ks.nr - 1) / ks.nr;
  Grid best{0, 0};
  double best_cost = 0;
  for (int tm = 1; tm <= threads; ++tm) {
    if (threads % tm != 0) continue;
    const int tn = threads / tm;
    if (tm > mt || tn > nt) continue;
    const long long tiles_m = (mt + tm - 1) / tm, tiles_n = (nt + tn - 1) / tn;  // per thread, rounded up
    const double rows = std::min<double>(M, double(tiles_m * ks.mr));
    const double cols = std::min<double>(N, double(tiles_n * ks.nr));
    const double b_packs = std::ceil(rows / ks.mb);
    const double cost = rows * cols * K + kPackCost * K * (rows + cols * b_packs);
    if (best.tm == 0 || cost < best_cost) {
      best = {tm, tn};
      best_cost = cost;
    }
  }
  return best;
}

// Part p of q of `units` whole units of `unit` elements, within [0, total).
void split(int total, int unit, int p, int q, int& lo, int& hi) {
  const long long units = (total + unit - 1) / unit;
  lo = static_cast<int>(std::min<long long>(total, units * p / q * unit));
  hi = static_cast<int>(std::min<long long>(total, units * (p + 1) / q * unit));
}

void scale(int M, int N, float beta, float* C, int ldc) {
  if (beta == 1.0f) return;
  for (int i = 0; i < M; ++i) {
    float* c = C + static_cast<std::ptrdiff_t>(i) * ldc;
    if (beta == 0.0f)
      std::fill(c, c + N, 0.0f);
    else
      for (int j = 0; j < N; ++j) c[j] *= beta;
  }
}

// Below this many multiply-adds per thread (~5 us of work), another thread costs
// more than it saves: the fork and join alone take microseconds, and when the
// machine is oversubscribed a worker that is not running delays the whole call
// by a time slice (milliseconds).
constexpr double kMinMaddsPerThread = 512.0 * 1024;

}  // namespace

std::size_t gemm_workspace_bytes(int threads) { return static_cast<std::size_t>(std::max(threads, 1)) * slice_bytes(); }

const char* gemm_kernel_name() { return select_kernels()->name; }

void gemm(Trans trans_a, Trans trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
          int ldb, float beta, float* C, int ldc, const GemmWorkspace* workspace) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale(M, N, beta, C, ldc);
    return;
  }
  const KernelSet& ks = *select_kernels();

  // Threads: none nested; no more than the work is worth; a grid that fits.
  int threads = omp_get_level() > 0 ? 1 : omp_get_max_threads();
  const double madds = double(M) * N * K;
  threads = static_cast<int>(std::clamp<double>(madds / kMinMaddsPerThread, 1.0, threads));
  while (threads > 1 && choose_grid(threads, M, N, K, ks).tm == 0) --threads;

  const std::size_t slice = slice_bytes();
  // The caller's workspace when it is large enough (a slice per thread), else
  // each thread's own buffer. Called from inside a parallel region (a convolution
  // giving each thread whole images), the call runs on one thread and takes that
  // thread's slice, so that the region's threads never share one.
  const int first_slice = omp_get_level() > 0 ? omp_get_thread_num() : 0;
  char* ws = nullptr;
  if (workspace && workspace->data) {
    const auto addr = reinterpret_cast<std::uintptr_t>(workspace->data);
    const std::size_t pad = (kAlign - addr % kAlign) % kAlign;
    if (workspace->bytes >= pad + slice * (first_slice + threads))
      ws = reinterpret_cast<char*>(workspace->data) + pad + slice * first_slice;
  }

  const Rect base{trans_a == Trans::yes,
                  trans_b == Trans::yes,
                  0,
                  M,
                  0,
                  N,
                  K,
                  alpha,
                  beta,
                  A,
                  lda,
                  B,
                  ldb,
                  C,
                  ldc,
                  nullptr,
                  nullptr};
  auto run_share = [&](int tid, int nth) {
    const Grid g = nth == 1 ? Grid{} : choose_grid(nth, M, N, K, ks);
    Rect r = base;
    split(M, ks.mr, tid / g.tn, g.tm, r.m0, r.m1);
    split(N, ks.nr, tid % g.tn, g.tn, r.n0, r.n1);
    if (r.m0 >= r.m1 || r.n0 >= r.n1) return;
    float* buf = ws ? reinterpret_cast<float*>(ws + slice * tid) : thread_buffer(slice);
    r.abuf = buf;
    r.bbuf = reinterpret_cast<float*>(reinterpret_cast<char*>(buf) + a_bytes(ks));
    ks.run(r);
  };

  if (threads == 1) {
    run_share(0, 1);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int nth = omp_get_num_threads();
    // A smaller team than asked for still needs a grid with a tile per thread.
    if (nth == threads || choose_grid(nth, M, N, K, ks).tm != 0) {
      run_share(omp_get_thread_num(), nth);
    } else if (omp_get_thread_num() == 0) {
      run_share(0, 1);
    }
  }
}

}  // namespace memstrat
