#include "benches/cli/preflight.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/core.h>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "benches/cli/commands.h"
#include "benches/cli/machine.h"
#include "strategies/techniques.h"

namespace memstrat::cli {

namespace {

// Code, libraries, OpenMP's thread stacks: what RSS holds before any tensor.
constexpr std::size_t kProcessBytes = std::size_t(32) << 20;

std::optional<std::size_t> meminfo_bytes(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) {
      std::istringstream fields(line.substr(key.size() + 1));
      std::size_t kib = 0;
      if (fields >> kib) return kib * 1024;
    }
  return std::nullopt;
}

// What this process's memory cgroup (v2) has left under its limit, where it has one.
std::optional<std::size_t> cgroup_room() {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("0::", 0) == 0) {
      const std::string dir = "/sys/fs/cgroup" + line.substr(3);
      const auto limit = number_in(dir + "/memory.max"), used = number_in(dir + "/memory.current");
      if (limit && used) return *limit > *used ? *limit - *used : 0;
    }
  return std::nullopt;
}

}  // namespace

double dataset_file_bytes(const DatasetInfo& info) {
  // In floating point: a count of samples given by hand can overflow the exact layout's 64 bits.
  return 65536.0 + double(info.samples) * (double(sizeof(std::int32_t)) + double(info.sample_bytes()));
}

std::size_t available_memory_bytes() {
  std::size_t available =
      meminfo_bytes("MemAvailable")
          .value_or(std::size_t(::sysconf(_SC_AVPHYS_PAGES)) * std::size_t(::sysconf(_SC_PAGESIZE)));
  if (const auto room = cgroup_room()) available = std::min(available, *room);
  return available;
}

DatasetInfo planned_dataset(const RunOptions& o, const Model& model) {
  std::error_code ignored;  // unreadable reads as absent: the dataset is then generated there
  if (!o.data.empty() && std::filesystem::exists(o.data, ignored)) return read_dataset_info(o.data);
  DatasetInfo info;
  info.channels = model.input.c, info.height = model.input.h, info.width = model.input.w;
  info.classes = model.classes;
  info.seed = o.seed;
  // By default as many samples as fit in 256 MiB, at most 2048 and at least one batch.
  const std::uint64_t by_size = std::max<std::uint64_t>(1, (256ull << 20) / info.sample_bytes());
  info.samples = o.samples > 0 ? o.samples : std::max<std::uint64_t>(o.batch, std::min<std::uint64_t>(2048, by_size));
  return info;
}

MemoryNeed memory_need(const RunOptions& o, const Model& model) {
  MemoryNeed need;
  need.peak_live_bytes = estimate_for(o).peak_live_bytes;
  const DatasetInfo data = planned_dataset(o, model);
  const double labels = double(data.samples) * sizeof(std::int32_t);
  const double whole = dataset_file_bytes(data);
  const double held = parse_data_mode(o.data_mode) == DataMode::memory ? whole : labels;
  need.dataset_bytes = std::size_t(std::min(held, 1.8e19));
  need.labels_bytes = std::size_t(std::min(labels, 1.8e19));
  need.process_bytes = kProcessBytes;
  return need;
}

std::string memory_shortfall(const MemoryNeed& need, std::size_t available) {
  if (need.total() <= available) return {};
  std::string parts = format_bytes(double(need.peak_live_bytes)) + " peak live";
  if (need.dataset_bytes >= (std::size_t(1) << 20))
    parts += ", " + format_bytes(double(need.dataset_bytes)) + " of dataset";
  return fmt::format("needs about {} (estimator: {}, and {} for the process); this machine has {} available",
                     format_bytes(double(need.total())), parts, format_bytes(double(need.process_bytes)),
                     format_bytes(double(available)));
}

std::string memory_advice(const MemoryNeed& need, std::size_t available) {
  if (need.dataset_bytes <= need.peak_live_bytes)
    return "lower --batch, or add --tech accum:K, recompute or bf16 (memstrat estimate shows where it goes)";
  const bool mapped_fits = need.total() - need.dataset_bytes + need.labels_bytes <= available;
  return mapped_fits && need.dataset_bytes > need.labels_bytes ? "use --data-mode mmap or stream, or lower --samples"
                                                               : "lower --samples";
}

std::size_t model_state_bytes(const RunOptions& options) {
  RunOptions smallest = options;
  // Over ranks, one sample each and every state sharded (zero:3): the least a rank holds.
  smallest.batch = std::max(1, options.ranks), smallest.tech = options.ranks > 1 ? "zero:3" : "none";
  return estimate_for(smallest).setup_bytes;
}

std::optional<std::size_t> zero_formula_bytes(const RunOptions& options) {
  const TechniqueSet techniques = make_techniques(options.tech);
  if (options.ranks <= 1 && techniques.zero_stage < 0) return std::nullopt;
  // The same run in one process: its techniques less dp and zero:S.
  RunOptions one = options;
  one.ranks = 1;
  one.tech.clear();
  std::stringstream parts(options.tech);
  for (std::string part; std::getline(parts, part, ',');)
    if (part != "dp" && part.rfind("zero:", 0) != 0) one.tech += (one.tech.empty() ? "" : ",") + part;
  if (one.tech.empty()) one.tech = "none";
  const Estimate e = estimate_for(one);
  const auto bytes = [&](BufferKind k) { return double(e.peak_by_kind[std::size_t(k)]); };
  const double p = bytes(BufferKind::parameter), g = bytes(BufferKind::gradient),
               k = bytes(BufferKind::optimizer_state);
  const double n = options.ranks;
  switch (std::max(0, techniques.zero_stage)) {
    case 0:
      return std::size_t(p + g + k);
    case 1:
      return std::size_t(p + g + k / n);
    case 2:
      return std::size_t(p + (g + k) / n);
    default:
      return std::size_t((p + g + k) / n);
  }
}

void check_output_path(const std::string& path, const std::string& what) {
  const auto fail = [&](const std::string& why) {
    return std::runtime_error("cannot write " + what + " '" + path + "': " + why);
  };
  if (path.empty()) throw std::runtime_error(what + ": the path is empty");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) throw fail("it is a folder");
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  if (::stat(dir.c_str(), &st) != 0) throw fail("folder '" + dir + "': " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw fail("'" + dir + "' is not a folder");
  // Creating the temporary file the atomic write will use is the one test that
  // every reason agrees with (permissions, read-only or special file systems).
  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 && errno != EEXIST) throw fail(std::strerror(errno));
  if (fd >= 0) ::close(fd), ::unlink(temp.c_str());
}

CLI::Validator writable_path(const std::string& what) {
  return CLI::Validator(
      [what](std::string& path) -> std::string {
        if (path.empty()) return "expected a file path, got an empty one";
        try {
          check_output_path(path, what);
        } catch (const std::exception& e) {
          return e.what();
        }
        return {};
      },
      "PATH");
}

void check_disk_space(const std::string& path, const DatasetInfo& info) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return;  // the write itself will say what is wrong
  const double bytes = dataset_file_bytes(info), free_bytes = double(fs.f_bavail) * double(fs.f_frsize);
  if (bytes > free_bytes)
    throw DataError(fmt::format("a dataset of {} samples of {}x{}x{} takes {} and '{}' has {} free: lower --samples",
                                info.samples, info.channels, info.height, info.width, format_bytes(bytes), dir,
                                format_bytes(free_bytes)));
}

}  // namespace memstrat::cli
