// A deliberate memory error inside one of our own allocators' buffers, for
// test_sanitizer.cpp: built only in the sanitizer build, run as a child that
// AddressSanitizer must stop.
//
//   memstrat-asan-probe STRATEGY overflow|use-after-free|in-bounds
//
// Takes a 100-byte buffer from STRATEGY where it lies inside the strategy's own
// memory (a step region of arena, a pool segment, the planned slab), prints the
// address it is about to touch on stdout, then writes the byte just past the
// requested size, reads the first byte after freeing it, or (in-bounds) does
// only legal accesses and exits 0. Nothing of this would be noticed were the
// strategy not to poison its memory: every address touched is inside a block
// that the C library or mmap handed out and that is still held.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "kernels/allocator.h"
#include "strategies/registry.h"

using namespace memstrat;

namespace {

constexpr std::size_t kBytes = 100;  // not a multiple of ASan's 8-byte granule: the slack starts inside one

// Some stepping so that the buffer comes from the strategy's own memory: arena
// bumps only inside a step, planned serves from its slab from the second step on.
void enter_own_memory(Allocator& allocator) {
  const AllocRequest request{kBytes, 64, BufferKind::activation, 0};
  allocator.step_begin(0);
  allocator.phase_begin(Phase::forward);
  allocator.deallocate(allocator.allocate(request), request);
  allocator.step_end(0);
  allocator.step_begin(1);
  allocator.phase_begin(Phase::forward);
}

void touch(volatile char* address, bool write) {
  std::printf("touching %p\n", static_cast<void*>(const_cast<char*>(address)));
  std::fflush(stdout);
  if (write)
    *address = 1;
  else
    std::printf("read %d\n", int(*address));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: memstrat-asan-probe STRATEGY overflow|use-after-free|in-bounds\n");
    return 2;
  }
  const std::string action = argv[2];
  try {
    auto allocator = make_allocator(argv[1]);
    enter_own_memory(*allocator);
    const AllocRequest request{kBytes, 64, BufferKind::activation, 0};
    // A neighbour after it, so that the overflow lands between two live buffers.
    char* buffer = static_cast<char*>(allocator->allocate(request));
    void* neighbour = allocator->allocate(request);
    std::memset(buffer, 7, kBytes);
    if (action == "overflow") {
      touch(buffer + kBytes, true);
    } else if (action == "use-after-free") {
      allocator->deallocate(buffer, request);
      touch(buffer, false);
      buffer = nullptr;
    } else if (action == "in-bounds") {
      touch(buffer + kBytes - 1, true);
      touch(buffer, false);
    } else {
      std::fprintf(stderr, "memstrat-asan-probe: unknown action '%s'\n", action.c_str());
      return 2;
    }
    if (buffer != nullptr) allocator->deallocate(buffer, request);
    allocator->deallocate(neighbour, request);
    allocator->step_end(1);
    std::printf("survived\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "memstrat-asan-probe: %s\n", e.what());
    return 2;
  }
  return 0;
}
