#include "kernels/data.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/tensor.h"

namespace memstrat {

namespace {

constexpr char kMagic[8] = {'M', 'E', 'M', 'S', 'T', 'R', 'A', 'T'};
constexpr std::uint32_t kVersion = 1;
constexpr std::uint64_t kPage = 4096;

struct Header {
  char magic[8];
  std::uint32_t version, channels, height, width, classes, reserved;
  std::uint64_t samples, seed, labels_offset, samples_offset;
};

std::uint64_t round_up(std::uint64_t value) { return (value + kPage - 1) / kPage * kPage; }

std::string errno_text() { return std::strerror(errno); }

void write_all(int fd, const void* data, std::size_t bytes, std::uint64_t offset, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::pwrite(fd, p, bytes, off_t(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw DataError("cannot write dataset '" + path + "': " + errno_text());
    p += n, bytes -= std::size_t(n), offset += std::uint64_t(n);
  }
}

// Every multiply-add here is an explicit std::fma and the file is built with
// -ffp-contract=off: the bytes of a dataset must not depend on how the compiler was
// asked to optimise (a sanitizer build contracted differently and changed 6 in 10
// sample floats), and workloads/torch_train.py reproduces them bit for bit.
//
// Class prototypes: per class and channel, the sum of three plane waves, scaled to
// about unit variance; samples add noise of standard deviation 0.7.
std::vector<float> make_prototypes(const DatasetInfo& info) {
  const std::size_t per = info.sample_floats();
  std::vector<float> protos(per * info.classes);
  Rng rng(info.seed ^ 0x5EEDC1A55ull);
  for (int k = 0; k < info.classes; ++k)
    for (int c = 0; c < info.channels; ++c) {
      float fx[3], fy[3], phase[3];
      for (int j = 0; j < 3; ++j) {
        fx[j] = std::fma(2.5f, rng.uniform(), 0.5f);
        fy[j] = std::fma(2.5f, rng.uniform(), 0.5f);
        phase[j] = 6.2831853f * rng.uniform();
      }
      float* plane = protos.data() + k * per + std::size_t(c) * info.height * info.width;
      for (int y = 0; y < info.height; ++y)
        for (int x = 0; x < info.width; ++x) {
          float v = 0.0f;
          for (int j = 0; j < 3; ++j)
            v += std::sin(std::fma(6.2831853f, fx[j] * x / info.width + fy[j] * y / info.height, phase[j]));
          plane[y * info.width + x] = v * 0.8f;
        }
    }
  return protos;
}

class File {
 public:
  File(const std::string& path, int flags, mode_t mode = 0) : fd_(::open(path.c_str(), flags | O_CLOEXEC, mode)) {}
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

DatasetLayout dataset_layout(const DatasetInfo& info) {
  const std::uint64_t labels_offset = kPage;
  const std::uint64_t samples_offset = round_up(labels_offset + info.samples * sizeof(std::int32_t));
  return {labels_offset, samples_offset, samples_offset + info.samples * info.sample_bytes()};
}

void generate_dataset(const std::string& path, const DatasetInfo& info) {
  if (info.samples == 0) throw DataError("a dataset needs at least one sample");
  const DatasetLayout layout = dataset_layout(info);
  const std::string temp = path + ".partial";
  File file(temp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (file.get() < 0) throw DataError("cannot create dataset '" + path + "': " + errno_text());
  try {
    Header h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.version = kVersion;
    h.channels = std::uint32_t(info.channels), h.height = std::uint32_t(info.height);
    h.width = std::uint32_t(info.width), h.classes = std::uint32_t(info.classes);
    h.samples = info.samples, h.seed = info.seed;
    h.labels_offset = layout.labels_offset, h.samples_offset = layout.samples_offset;
    std::vector<char> page(kPage, 0);
    std::memcpy(page.data(), &h, sizeof h);
    write_all(file.get(), page.data(), page.size(), 0, path);

    // Each image shows its true class; one label in five is then replaced by a random
    // class, so that the loss settles at a floor instead of falling to zero, as on real data.
    std::vector<std::int32_t> classes(info.samples), labels(info.samples);
    Rng label_rng(info.seed ^ 0x1ABE1ull);
    for (std::uint64_t i = 0; i < info.samples; ++i) {
      classes[i] = std::int32_t(label_rng.next_u64() % std::uint64_t(info.classes));
      const bool noisy = label_rng.uniform() < 0.2f;
      const auto random_class = std::int32_t(label_rng.next_u64() % std::uint64_t(info.classes));
      labels[i] = noisy ? random_class : classes[i];
    }
    write_all(file.get(), labels.data(), labels.size() * sizeof(std::int32_t), layout.labels_offset, path);

    const std::vector<float> protos = make_prototypes(info);
    const std::size_t per = info.sample_floats();
    const std::uint64_t chunk = std::max<std::uint64_t>(1, (8u << 20) / info.sample_bytes());
    std::vector<float> block(chunk * per);
    for (std::uint64_t first = 0; first < info.samples; first += chunk) {
      const std::uint64_t count = std::min(chunk, info.samples - first);
#pragma omp parallel for schedule(static)
      for (std::int64_t i = 0; i < std::int64_t(count); ++i) {
        // Each sample's noise has its own seed: the file does not depend on threads.
        Rng noise((info.seed << 32) ^ (first + std::uint64_t(i)) * 0x9E3779B97F4A7C15ull);
        const float* proto = protos.data() + std::size_t(classes[first + i]) * per;
        float* out = block.data() + std::size_t(i) * per;
        for (std::size_t j = 0; j < per; ++j) out[j] = std::fma(0.7f, noise.normal(), proto[j]);
      }
      write_all(file.get(), block.data(), count * info.sample_bytes(),
                layout.samples_offset + first * info.sample_bytes(), path);
    }
    if (::fsync(file.get()) != 0) throw DataError("cannot write dataset '" + path + "': " + errno_text());
    ::close(file.release());
    if (::rename(temp.c_str(), path.c_str()) != 0)
      throw DataError("cannot create dataset '" + path + "': " + errno_text());
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
}

DatasetInfo read_dataset_info(const std::string& path) {
  File file(path, O_RDONLY);
  if (file.get() < 0) throw DataError("cannot open dataset '" + path + "': " + errno_text());
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) throw DataError("cannot open dataset '" + path + "': " + errno_text());
  if (!S_ISREG(st.st_mode)) throw DataError("dataset '" + path + "' is not a regular file");
  Header h{};
  if (std::uint64_t(st.st_size) < sizeof h || ::pread(file.get(), &h, sizeof h, 0) != ssize_t(sizeof h) ||
      std::memcmp(h.magic, kMagic, sizeof kMagic) != 0)
    throw DataError("'" + path + "' is not a memstrat dataset (bad header)");
  if (h.version != kVersion)
    throw DataError("dataset '" + path + "' has version " + std::to_string(h.version) + ", expected " +
                    std::to_string(kVersion));
  if (h.channels == 0 || h.height == 0 || h.width == 0 || h.classes < 2 || h.samples == 0 || h.channels > 4096 ||
      h.height > 65536 || h.width > 65536 || h.classes > 1000000)
    throw DataError("dataset '" + path + "' has an impossible header");
  DatasetInfo info;
  info.samples = h.samples, info.seed = h.seed;
  info.channels = int(h.channels), info.height = int(h.height), info.width = int(h.width);
  info.classes = int(h.classes);
  const DatasetLayout layout = dataset_layout(info);
  if (h.labels_offset != layout.labels_offset || h.samples_offset != layout.samples_offset)
    throw DataError("dataset '" + path + "' has an impossible header");
  if (std::uint64_t(st.st_size) != layout.file_bytes)
    throw DataError("dataset '" + path + "' is truncated (" + std::to_string(st.st_size) + " bytes, expected " +
                    std::to_string(layout.file_bytes) + ")");
  return info;
}

}  // namespace memstrat
