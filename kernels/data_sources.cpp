// The three ways of holding the training set (--data-mode), behind BatchSource.
//
//   memory  the whole sample area read into RAM when the source is opened;
//   mmap    the file mapped read-only, batches copied out of the mapping;
//   stream  a prefetch thread reads the next batches into a small ring ahead of
//           the trainer (as ND4J's AsyncDataSetIterator).
//
// All three give bitwise the same samples and labels for the same (first,
// count), sample i of the stream being dataset sample i mod N. Labels are read
// at open in every mode (4 bytes a sample). None of this memory goes through the
// allocator under test: like the file itself, it is the data's, not the trainer's.
// read() is not to be called from two threads at once.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

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
    case DataMode::memory:
      return "memory";
    case DataMode::mmap:
      return "mmap";
    case DataMode::stream:
      return "stream";
  }
  return "unknown";
}

namespace {

std::string errno_text() { return std::strerror(errno); }

// The open file, its header and its labels: what every mode starts from.
class Dataset {
 public:
  explicit Dataset(const std::string& path) : path_(path), info_(read_dataset_info(path)) {
    layout_ = dataset_layout(info_);
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw DataError("cannot open dataset '" + path + "': " + errno_text());
    try {
      labels_.resize(info_.samples);
      pread_all(labels_.data(), labels_.size() * sizeof(std::int32_t), layout_.labels_offset);
      for (std::int32_t label : labels_)
        if (label < 0 || label >= info_.classes) throw DataError("dataset '" + path + "' has a label out of range");
    } catch (...) {
      ::close(fd_);
      throw;
    }
  }
  ~Dataset() { ::close(fd_); }
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  const std::string& path() const { return path_; }
  const DatasetInfo& info() const { return info_; }
  const DatasetLayout& layout() const { return layout_; }

  // Calls copy(index, run, done) for each stretch of [first, first + count) that
  // does not wrap: `run` samples from dataset sample `index`, to batch position `done`.
  template <typename Copy>
  void for_each_run(std::uint64_t first, int count, Copy&& copy) const {
    for (int done = 0; done < count;) {
      const std::uint64_t index = (first + std::uint64_t(done)) % info_.samples;
      const int run = int(std::min<std::uint64_t>(std::uint64_t(count - done), info_.samples - index));
      copy(index, run, done);
      done += run;
    }
  }

  void copy_labels(std::uint64_t index, int run, std::int32_t* out) const {
    std::memcpy(out, labels_.data() + index, std::size_t(run) * sizeof(std::int32_t));
  }

  // Reads samples from the file (pread: safe from any thread).
  void read_file(std::uint64_t first, int count, float* x, std::int32_t* labels) const {
    for_each_run(first, count, [&](std::uint64_t index, int run, int done) {
      pread_all(x + std::size_t(done) * info_.sample_floats(), std::size_t(run) * info_.sample_bytes(),
                layout_.samples_offset + index * info_.sample_bytes());
      copy_labels(index, run, labels + done);
    });
  }

  void pread_all(void* data, std::size_t bytes, std::uint64_t offset) const {
    char* p = static_cast<char*>(data);
    while (bytes > 0) {
      const ssize_t n = ::pread(fd_, p, bytes, off_t(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw DataError("cannot read dataset '" + path_ + "': " + errno_text());
      if (n == 0) throw DataError("dataset '" + path_ + "' is truncated");
      p += n, bytes -= std::size_t(n), offset += std::uint64_t(n);
    }
  }

  int fd() const { return fd_; }

 private:
  std::string path_;
  DatasetInfo info_;
  DatasetLayout layout_;
  int fd_ = -1;
  std::vector<std::int32_t> labels_;
};

// `memory`: every sample read into plain memory at open. That is setup, before
// the peak-RSS mark is reset: the baseline holds the dataset, training does not.
class MemorySource final : public BatchSource {
 public:
  explicit MemorySource(const std::string& path) : data_(path) {
    const DatasetInfo& info = data_.info();
    const std::size_t floats = std::size_t(info.samples) * info.sample_floats();
    try {
      samples_.reset(new float[floats]);  // not zero-filled: the read fills every byte
    } catch (const std::bad_alloc&) {
      throw DataError("dataset '" + path + "' does not fit in memory (" + std::to_string(floats * sizeof(float)) +
                      " bytes)");
    }
    data_.pread_all(samples_.get(), floats * sizeof(float), data_.layout().samples_offset);
  }
  const DatasetInfo& info() const override { return data_.info(); }
  void read(std::uint64_t first, int count, float* x, std::int32_t* labels) override {
    const std::size_t per = data_.info().sample_floats();
    data_.for_each_run(first, count, [&](std::uint64_t index, int run, int done) {
      std::memcpy(x + std::size_t(done) * per, samples_.get() + index * per, std::size_t(run) * per * sizeof(float));
      data_.copy_labels(index, run, labels + done);
    });
  }

 private:
  Dataset data_;
  std::unique_ptr<float[]> samples_;  // (N, C*H*W)
};

// `mmap`: the file mapped read-only and shared with the page cache; batches are
// copied out. The kernel reads pages in ahead of the sequential reads and may drop
// them again: resident file pages come and go (rss_file_bytes shows them).
class MmapSource final : public BatchSource {
 public:
  explicit MmapSource(const std::string& path) : data_(path) {
    bytes_ = data_.layout().file_bytes;
    void* map = ::mmap(nullptr, bytes_, PROT_READ, MAP_SHARED, data_.fd(), 0);
    if (map == MAP_FAILED) throw DataError("cannot map dataset '" + path + "': " + errno_text());
    map_ = static_cast<const char*>(map);
    // Advice only: a failure changes speed, never the values.
    ::madvise(const_cast<char*>(map_), bytes_, MADV_SEQUENTIAL);
  }
  ~MmapSource() override { ::munmap(const_cast<char*>(map_), bytes_); }
  MmapSource(const MmapSource&) = delete;
  MmapSource& operator=(const MmapSource&) = delete;

  const DatasetInfo& info() const override { return data_.info(); }
  void read(std::uint64_t first, int count, float* x, std::int32_t* labels) override {
    const DatasetInfo& info = data_.info();
    const char* samples = map_ + data_.layout().samples_offset;
    data_.for_each_run(first, count, [&](std::uint64_t index, int run, int done) {
      std::memcpy(x + std::size_t(done) * info.sample_floats(), samples + index * info.sample_bytes(),
                  std::size_t(run) * info.sample_bytes());
      data_.copy_labels(index, run, labels + done);
    });
  }

 private:
  Dataset data_;
  const char* map_ = nullptr;
  std::size_t bytes_ = 0;
};

// `stream`: a prefetch thread keeps a ring of kSlots batch buffers filled with
// the batches that follow the last one read, (first + count, count) and on, as
// a trainer reads them. read() takes the oldest prefetched batch when it is the
// one asked for (waiting for it if it is being read). Any other request resyncs:
// prefetching stops, the request is read at once, and prefetching resumes after
// it. An error the thread meets is kept with its batch and thrown from the
// read() that asks for that batch. Two slots: one handed out while the next is
// read; more would only hold more memory.
class StreamSource final : public BatchSource {
 public:
  static constexpr int kSlots = 2;

  StreamSource(const std::string& path, int batch) : data_(path), capacity_(std::max(batch, 1)) {
    const DatasetInfo& info = data_.info();
    for (Slot& slot : slots_) {
      slot.x.resize(std::size_t(capacity_) * info.sample_floats());
      slot.labels.resize(std::size_t(capacity_));
    }
    next_first_ = 0;  // a trainer starts at sample 0
    next_count_ = capacity_;
    active_ = true;
    thread_ = std::thread([this] { prefetch(); });
  }

  ~StreamSource() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  StreamSource(const StreamSource&) = delete;
  StreamSource& operator=(const StreamSource&) = delete;

  const DatasetInfo& info() const override { return data_.info(); }

  void read(std::uint64_t first, int count, float* x, std::int32_t* labels) override {
    std::unique_lock<std::mutex> lock(mutex_);
    // Nothing ready yet, but the thread is reading this very batch: wait for it.
    if (ready_ == 0 && active_ && first == next_first_ && count == next_count_)
      changed_.wait(lock, [&] { return ready_ > 0 || !active_; });
    if (ready_ > 0 && slots_[head_].first == first && slots_[head_].count == count) {
      Slot& slot = slots_[head_];
      if (slot.error) {
        const std::exception_ptr error = slot.error;
        stop_prefetch(lock);  // the next read starts over
        std::rethrow_exception(error);
      }
      lock.unlock();  // the thread never writes a ready slot
      std::memcpy(x, slot.x.data(), std::size_t(count) * data_.info().sample_bytes());
      std::memcpy(labels, slot.labels.data(), std::size_t(count) * sizeof(std::int32_t));
      lock.lock();
      head_ = (head_ + 1) % kSlots;
      --ready_;
      changed_.notify_all();
      return;
    }
    // Not what was prefetched: read it now, then prefetch what follows it.
    stop_prefetch(lock);
    lock.unlock();
    data_.read_file(first, count, x, labels);
    lock.lock();
    if (count <= capacity_) {
      next_first_ = first + std::uint64_t(count);
      next_count_ = count;
      active_ = true;
      changed_.notify_all();
    }
  }

 private:
  struct Slot {
    std::vector<float> x;              // (capacity, C*H*W)
    std::vector<std::int32_t> labels;  // (capacity)
    std::uint64_t first = 0;
    int count = 0;
    std::exception_ptr error;
  };

  // Stops the thread after its read in flight and empties the ring.
  void stop_prefetch(std::unique_lock<std::mutex>& lock) {
    active_ = false;
    changed_.wait(lock, [&] { return !filling_; });
    head_ = 0;
    ready_ = 0;
  }

  void prefetch() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return stop_ || (active_ && ready_ < kSlots); });
      if (stop_) return;
      Slot& slot = slots_[(head_ + ready_) % kSlots];
      const std::uint64_t first = next_first_;
      const int count = next_count_;
      filling_ = true;
      lock.unlock();
      std::exception_ptr error;
      try {
        data_.read_file(first, count, slot.x.data(), slot.labels.data());
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      filling_ = false;
      if (active_) {  // else a resync came meanwhile: the batch is not wanted
        slot.first = first, slot.count = count, slot.error = error;
        ++ready_;
        next_first_ = first + std::uint64_t(count);
        if (error) active_ = false;  // nothing after it until a read asks
      }
      changed_.notify_all();
    }
  }

  Dataset data_;
  const int capacity_;  // samples a slot holds
  Slot slots_[kSlots];

  std::mutex mutex_;
  std::condition_variable changed_;
  int head_ = 0, ready_ = 0;      // ready slots: head_, head_ + 1, ... (mod kSlots)
  std::uint64_t next_first_ = 0;  // what the thread reads next
  int next_count_ = 0;
  bool active_ = false;   // the thread may read ahead
  bool filling_ = false;  // a read into slot (head_ + ready_) is in flight
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<BatchSource> open_batch_source(const std::string& path, DataMode mode, int batch) {
  switch (mode) {
    case DataMode::memory:
      return std::make_unique<MemorySource>(path);
    case DataMode::mmap:
      return std::make_unique<MmapSource>(path);
    case DataMode::stream:
      return std::make_unique<StreamSource>(path, batch);
  }
  throw DataError("dataset '" + path + "': unknown data mode");
}

}  // namespace memstrat
