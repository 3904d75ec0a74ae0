// PLACEHOLDER: every mode reads through FileBatchSource until the data modes are written.
#include <stdexcept>

#include "kernels/data.h"

namespace memstrat {

DataMode parse_data_mode(const std::string& name) {
  if (name == "memory") return DataMode::memory;
  if (name == "mmap") return DataMode::mmap;
  if (name == "stream") return DataMode::stream;
  throw std::invalid_argument("unknown data mode '" + name + "' (known: memory, mmap, stream)");
}

const char* to_string(DataMode mode) {
  switch (mode) {
    case DataMode::memory: return "memory";
    case DataMode::mmap: return "mmap";
    case DataMode::stream: return "stream";
  }
  return "unknown";
}

std::unique_ptr<BatchSource> open_batch_source(const std::string& path, DataMode, int) {
  return std::make_unique<FileBatchSource>(path);
}

}  // namespace memstrat
