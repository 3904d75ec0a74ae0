// The allocator interface: where every tensor byte of the trainer comes from.
//
// In the spirit of std::pmr::memory_resource: public non-virtual allocate /
// deallocate do the accounting once (live and peak bytes, per kind, calls, time
// spent inside), then forward to the strategy's private virtuals. Every
// strategy is therefore measured the same way.
//
// Each request says what it is for (BufferKind) and which layer asked, and the
// trainer marks step and phase boundaries, so strategies can place buffers by
// lifetime and figures can be broken down by kind.
//
// Not thread-safe: the trainer allocates from one thread only (OpenMP regions
// never allocate).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace memstrat {

enum class BufferKind : std::uint8_t {
  parameter,        // weights and biases
  gradient,         // their gradients
  optimizer_state,  // momentum, Adam's m and v
  activation,       // forward outputs, and what is kept of them for backward
  temporary,        // short-lived: activation gradients, widened copies
  workspace,        // scratch for one op: im2col columns, GEMM packing
  input,            // batch buffers filled from the dataset
};
inline constexpr int kBufferKindCount = 7;
const char* to_string(BufferKind kind);

enum class Phase : std::uint8_t { setup, forward, backward, optimizer };
const char* to_string(Phase phase);

struct AllocRequest {
  std::size_t bytes = 0;
  std::size_t align = 64;
  BufferKind kind = BufferKind::temporary;
  int layer = -1;  // index of the layer that asked; -1 when none did
};

struct AllocStats {
  std::size_t live_bytes = 0;
  std::size_t peak_live_bytes = 0;
  std::array<std::size_t, kBufferKindCount> live_by_kind{};
  std::array<std::size_t, kBufferKindCount> peak_by_kind{};  // each kind's own peak
  std::uint64_t alloc_calls = 0;
  std::uint64_t free_calls = 0;
  std::uint64_t failed_calls = 0;
  std::uint64_t alloc_ns = 0;  // time inside allocate and deallocate together
};

// A request the strategy could not satisfy. Carries enough to say so in one line.
class AllocError : public std::runtime_error {
 public:
  AllocError(const std::string& strategy, const AllocRequest& request, const std::string& reason);
  const AllocRequest& request() const { return request_; }

 private:
  AllocRequest request_;
};

// Sees every event the allocator sees, after the strategy has served it:
// trace recording and the planned strategy's first step are built on this.
class AllocObserver {
 public:
  virtual ~AllocObserver() = default;
  virtual void on_allocate(const AllocRequest& request, const void* pointer) = 0;
  virtual void on_deallocate(const AllocRequest& request, const void* pointer) = 0;
  virtual void on_step_begin(int /*step*/) {}
  virtual void on_step_end(int /*step*/) {}
  virtual void on_phase(Phase /*phase*/) {}
};

// One buffer of a training step as a dry run saw it: its request, and when it was
// taken and given back on one counter of the step's allocations and frees (a buffer
// the step keeps is given back at the step's last count).
struct StepBuffer {
  AllocRequest request;
  std::uint64_t taken = 0;
  std::uint64_t returned = 0;
  Phase phase = Phase::forward;  // the phase it was taken in
};

class Allocator {
 public:
  explicit Allocator(std::string name) : name_(std::move(name)) {}
  virtual ~Allocator() = default;
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // Never returns null: a request that cannot be served throws AllocError.
  // A zero-byte request returns null and is not counted.
  void* allocate(const AllocRequest& request);
  // `request` must be the one the pointer was allocated with.
  void deallocate(void* pointer, const AllocRequest& request) noexcept;

  // Boundaries the trainer marks. Strategies that reuse memory cyclically hook these.
  void step_begin(int step);
  void step_end(int step);
  void phase_begin(Phase phase);
  Phase phase() const { return phase_; }

  // (optional) bytes the strategy holds from the OS, and bytes of that handed out
  // to live buffers. Defaults: unknown.
  virtual std::optional<std::size_t> reserved_bytes() const { return std::nullopt; }
  virtual std::optional<std::size_t> allocated_bytes() const { return std::nullopt; }
  // (optional) a training step's buffers, in request order, from a dry run before the
  // first step: strategies that plan or size themselves from a step do it here
  // instead of in the first one. Default: nothing to prepare.
  void reserve_step(const std::vector<StepBuffer>& buffers) { do_reserve_step(buffers); }
  // (optional) hand back what is held but unused. Default: nothing to hand back.
  virtual void trim() {}
  // (optional) the version of the code that serves requests, read from that code
  // itself where it can tell (jemalloc's mallctl("version"), ...). Default: none.
  virtual std::string version() const { return {}; }
  // (optional) figures of the strategy's own, for the run record as flat keys
  // (`arena_growths`, `plan_slab_bytes`, ...). Default: none.
  virtual std::vector<std::pair<std::string, double>> own_figures() const { return {}; }

  const std::string& name() const { return name_; }
  const AllocStats& stats() const { return stats_; }
  // Starts a new peak from the current live bytes (before training, after setup).
  void reset_peak();
  void set_observer(AllocObserver* observer) { observer_ = observer; }
  // Fault injection: the nth allocate call from now (1 = the next) fails. 0 disarms.
  void fail_nth_allocation(std::uint64_t nth) { fail_countdown_ = nth; }

 protected:
  // Strategies may throw AllocError themselves to give a precise reason.
  [[noreturn]] void fail(const AllocRequest& request, const std::string& reason) const;

 private:
  // Returns null when the request cannot be served.
  virtual void* do_allocate(const AllocRequest& request) = 0;
  virtual void do_deallocate(void* pointer, const AllocRequest& request) noexcept = 0;
  virtual void do_step_begin(int /*step*/) {}
  virtual void do_step_end(int /*step*/) {}
  virtual void do_phase_begin(Phase /*phase*/) {}
  virtual void do_reserve_step(const std::vector<StepBuffer>& /*buffers*/) {}

  std::string name_;
  AllocStats stats_;
  AllocObserver* observer_ = nullptr;
  std::uint64_t fail_countdown_ = 0;
  Phase phase_ = Phase::setup;
};

// Attaches an observer for a scope and detaches it on every way out, a thrown
// step included. Declare it after the observer and after whatever owns buffers
// (session, model, trainer): those are then freed with no observer attached,
// never reported to one that is already gone.
class ObserverScope {
 public:
  ObserverScope(Allocator& allocator, AllocObserver* observer) : allocator_(allocator) {
    allocator.set_observer(observer);
  }
  ~ObserverScope() { allocator_.set_observer(nullptr); }
  ObserverScope(const ObserverScope&) = delete;
  ObserverScope& operator=(const ObserverScope&) = delete;

 private:
  Allocator& allocator_;
};

// Owns one allocation from an Allocator for as long as it lives. Move-only.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Allocator& allocator, std::size_t bytes, BufferKind kind, int layer, std::size_t align = 64);
  ~Buffer() { reset(); }
  Buffer(Buffer&& other) noexcept { *this = std::move(other); }
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void reset() noexcept;
  explicit operator bool() const { return data_ != nullptr; }
  void* data() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  std::size_t bytes() const { return request_.bytes; }
  BufferKind kind() const { return request_.kind; }

 private:
  Allocator* allocator_ = nullptr;
  void* data_ = nullptr;
  AllocRequest request_;
};

}  // namespace memstrat
