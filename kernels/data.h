// Synthetic training data: deterministic, learnable, stored in a binary file.
//
// Each class has a smooth prototype pattern (a few random plane waves per
// channel); a sample is its class's prototype plus Gaussian noise, so the loss
// really falls; one label in five is random, so it settles above zero (as on
// real data, and so that techniques can be compared by their loss). The file is
// written in chunks and read back in batches: a dataset may exceed memory.
//
// File layout (little-endian): a 4 KiB header, the labels (int32 per sample)
// padded to 4 KiB, then the samples (float32, C*H*W each), page-aligned so the
// sample area can be memory-mapped.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace memstrat {

class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DatasetInfo {
  std::uint64_t samples = 0;
  int channels = 3, height = 32, width = 32;
  int classes = 10;
  std::uint64_t seed = 1;
  std::size_t sample_floats() const { return std::size_t(channels) * height * width; }
  std::size_t sample_bytes() const { return sample_floats() * sizeof(float); }
};

struct DatasetLayout {
  std::uint64_t labels_offset;
  std::uint64_t samples_offset;
  std::uint64_t file_bytes;
};
DatasetLayout dataset_layout(const DatasetInfo& info);

// Writes the dataset to `path` (replacing it atomically). Throws DataError.
void generate_dataset(const std::string& path, const DatasetInfo& info);

// Reads and checks a dataset file's header. Throws DataError naming the file and the problem.
DatasetInfo read_dataset_info(const std::string& path);

// Where batches come from. Sample i of the stream is dataset sample i mod N.
// open_batch_source (below) gives one per --data-mode; the tests hold them to
// FileBatchSource (tests/support.h), a plain pread of each batch.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual const DatasetInfo& info() const = 0;
  // Fills x (count samples, C*H*W floats each) and labels with samples [first, first+count).
  virtual void read(std::uint64_t first, int count, float* x, std::int32_t* labels) = 0;
};

}  // namespace memstrat

namespace memstrat {

// How the training set is held (--data-mode).
enum class DataMode {
  memory,  // loaded whole into RAM at setup
  mmap,    // mapped from its file: pages come and go with the page cache
  stream,  // a prefetch thread fills a small ring of batch buffers from the file
};
DataMode parse_data_mode(const std::string& name);  // throws std::invalid_argument
const char* to_string(DataMode mode);

// Opens a dataset file to be read in `mode`; `batch` is the most samples one
// read asks for (it sizes stream's ring). Throws DataError.
std::unique_ptr<BatchSource> open_batch_source(const std::string& path, DataMode mode, int batch);

}  // namespace memstrat
