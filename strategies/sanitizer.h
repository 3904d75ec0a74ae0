// What our own allocators tell AddressSanitizer, and whether this build has it.
//
// Why: an allocator that carves buffers out of its own big blocks (arena, pool,
// planned) hides every overflow and use-after-free inside those blocks from
// ASan, which only sees the blocks. So the allocators poison what no live
// buffer owns (free space, the slack past each buffer's requested size, buffers
// freed but not yet reused) and unpoison exactly the requested bytes of each
// buffer they hand out; ASan then reports a stray access as it would for malloc.
//
// In a build without ASan (MEMSTRAT_SANITIZE off) every function here is empty
// and kAddressSanitizer is false: plain builds are unaffected.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define MEMSTRAT_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEMSTRAT_ADDRESS_SANITIZER 1
#endif
#endif

#if defined(MEMSTRAT_ADDRESS_SANITIZER)
#include <sanitizer/asan_interface.h>
#endif

namespace memstrat {

// True when this build runs under AddressSanitizer, whose runtime owns malloc:
// no allocator can then be preloaded in front of it.
#if defined(MEMSTRAT_ADDRESS_SANITIZER)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif

// ASan tracks addressability in 8-byte granules whose addressable bytes come
// first: poisoning a range that ends inside a granule still in use leaves that
// granule's bytes addressable, and unpoisoning from inside a granule makes the
// whole granule addressable. Both err towards no false reports.
inline void poison_memory(const void* pointer, std::size_t bytes) {
#if defined(MEMSTRAT_ADDRESS_SANITIZER)
  if (pointer != nullptr && bytes > 0) ASAN_POISON_MEMORY_REGION(pointer, bytes);
#else
  (void)pointer, (void)bytes;
#endif
}

inline void unpoison_memory(const void* pointer, std::size_t bytes) {
#if defined(MEMSTRAT_ADDRESS_SANITIZER)
  if (pointer != nullptr && bytes > 0) ASAN_UNPOISON_MEMORY_REGION(pointer, bytes);
#else
  (void)pointer, (void)bytes;
#endif
}

// A buffer of `bytes` handed out at the start of `block_bytes` (its rounded size):
// the requested bytes become addressable, the slack past them stays poisoned.
inline void hand_out(const void* pointer, std::size_t bytes, std::size_t block_bytes) {
  unpoison_memory(pointer, bytes);
  if (block_bytes > bytes) poison_memory(static_cast<const char*>(pointer) + bytes, block_bytes - bytes);
}

}  // namespace memstrat
