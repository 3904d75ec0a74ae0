#include "kernels/allocator.h"

#include <chrono>
#include <utility>

namespace memstrat {

const char* to_string(BufferKind kind) {
  switch (kind) {
    case BufferKind::parameter:
      return "parameter";
    case BufferKind::gradient:
      return "gradient";
    case BufferKind::optimizer_state:
      return "optimizer_state";
    case BufferKind::activation:
      return "activation";
    case BufferKind::temporary:
      return "temporary";
    case BufferKind::workspace:
      return "workspace";
    case BufferKind::input:
      return "input";
  }
  return "unknown";
}

const char* to_string(Phase phase) {
  switch (phase) {
    case Phase::setup:
      return "setup";
    case Phase::forward:
      return "forward";
    case Phase::backward:
      return "backward";
    case Phase::optimizer:
      return "optimizer";
  }
  return "unknown";
}

static std::string describe_failure(const std::string& strategy, const AllocRequest& r, const std::string& reason) {
  std::string layer = r.layer >= 0 ? " for layer " + std::to_string(r.layer) : "";
  return "allocator '" + strategy + "' could not allocate " + std::to_string(r.bytes) + " bytes (" + to_string(r.kind) +
         layer + "): " + reason;
}

AllocError::AllocError(const std::string& strategy, const AllocRequest& request, const std::string& reason)
    : std::runtime_error(describe_failure(strategy, request, reason)), request_(request) {}

static std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

void Allocator::fail(const AllocRequest& request, const std::string& reason) const {
  throw AllocError(name_, request, reason);
}

void* Allocator::allocate(const AllocRequest& request) {
  if (request.bytes == 0) return nullptr;
  if (fail_countdown_ > 0 && --fail_countdown_ == 0) {
    ++stats_.failed_calls;
    fail(request, "injected failure");
  }
  const std::uint64_t start = now_ns();
  void* pointer = nullptr;
  try {
    pointer = do_allocate(request);
  } catch (...) {
    ++stats_.failed_calls;
    stats_.alloc_ns += now_ns() - start;
    throw;
  }
  stats_.alloc_ns += now_ns() - start;
  if (pointer == nullptr) {
    ++stats_.failed_calls;
    fail(request, "out of memory");
  }
  ++stats_.alloc_calls;
  stats_.live_bytes += request.bytes;
  if (stats_.live_bytes > stats_.peak_live_bytes) stats_.peak_live_bytes = stats_.live_bytes;
  const auto k = static_cast<std::size_t>(request.kind);
  stats_.live_by_kind[k] += request.bytes;
  if (stats_.live_by_kind[k] > stats_.peak_by_kind[k]) stats_.peak_by_kind[k] = stats_.live_by_kind[k];
  if (observer_) observer_->on_allocate(request, pointer);
  return pointer;
}

void Allocator::deallocate(void* pointer, const AllocRequest& request) noexcept {
  if (pointer == nullptr) return;
  if (observer_) observer_->on_deallocate(request, pointer);
  const std::uint64_t start = now_ns();
  do_deallocate(pointer, request);
  stats_.alloc_ns += now_ns() - start;
  ++stats_.free_calls;
  stats_.live_bytes -= request.bytes;
  stats_.live_by_kind[static_cast<std::size_t>(request.kind)] -= request.bytes;
}

void Allocator::step_begin(int step) {
  do_step_begin(step);
  if (observer_) observer_->on_step_begin(step);
}

void Allocator::step_end(int step) {
  do_step_end(step);
  if (observer_) observer_->on_step_end(step);
}

void Allocator::phase_begin(Phase phase) {
  phase_ = phase;
  do_phase_begin(phase);
  if (observer_) observer_->on_phase(phase);
}

void Allocator::reset_peak() {
  stats_.peak_live_bytes = stats_.live_bytes;
  stats_.peak_by_kind = stats_.live_by_kind;
}

Buffer::Buffer(Allocator& allocator, std::size_t bytes, BufferKind kind, int layer, std::size_t align)
    : allocator_(&allocator), request_{bytes, align, kind, layer} {
  data_ = allocator.allocate(request_);
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    reset();
    allocator_ = std::exchange(other.allocator_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    request_ = std::exchange(other.request_, AllocRequest{});
  }
  return *this;
}

void Buffer::reset() noexcept {
  if (data_ != nullptr) allocator_->deallocate(data_, request_);
  data_ = nullptr;
  allocator_ = nullptr;
  request_ = AllocRequest{};
}

}  // namespace memstrat
