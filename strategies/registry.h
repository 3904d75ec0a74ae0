// The one table of every allocation strategy, by name.
//
// A spec is NAME or NAME:OPTION ("pool:first", "preload:/usr/lib/libfoo.so").
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/allocator.h"

namespace memstrat {

// A spec that names no strategy, or an option the strategy does not take.
class SpecError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct AllocatorEntry {
  std::string_view name;
  std::string_view usage;    // "pool[:best|first|worst]"
  std::string_view summary;  // one line on what it is
  // Replaces malloc for the whole process: the run's process must be started
  // with it preloaded (see preload_library).
  bool process_wide;
  // The library to preload, found at build time; empty when it was not found
  // (and for preload:PATH, whose option is the library).
  std::string_view library;
  std::unique_ptr<Allocator> (*make)(std::string_view option);
};

const std::vector<AllocatorEntry>& allocator_entries();

// Why the strategy a spec names cannot run in this build at all, in one line;
// empty when it can. A sanitizer build refuses every process-wide allocator:
// AddressSanitizer's runtime owns malloc there, and nothing can be preloaded in
// front of it. (A process-wide allocator whose library was not found is another
// matter: installing it is the fix, and preload_library says so.) Throws
// SpecError when the spec names no strategy.
std::string refused_in_this_build(std::string_view spec);

// Builds the strategy a spec names; throws SpecError with a one-line message.
std::unique_ptr<Allocator> make_allocator(std::string_view spec);

// For a process-wide allocator, the shared library to preload into the run's
// process; empty for in-process strategies. Throws SpecError when the spec is
// unknown, refused in this build, or its library was not found at build time.
std::string preload_library(std::string_view spec);

// Splits "name:option" into its parts; the option is empty when absent.
std::pair<std::string_view, std::string_view> split_spec(std::string_view spec);

// For a strategy that takes no option: throws SpecError, "allocator 'mmap' takes
// no option (got 'mmap:x')", when one was given. `kind` is "allocator" or "technique".
void refuse_option(std::string_view kind, std::string_view name, std::string_view option);

}  // namespace memstrat
