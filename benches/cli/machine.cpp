#include "benches/cli/machine.h"

#include <gnu/libc-version.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <sstream>

#include "kernels/gemm.h"

#ifndef MEMSTRAT_CXX_FLAGS
#define MEMSTRAT_CXX_FLAGS ""
#endif

namespace memstrat::cli {

namespace {

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? "" : line.substr(colon + 2);
    }
  return "";
}

long meminfo_kib(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  return 0;
}

}  // namespace

std::string host_name() {
  char name[256] = {};
  return ::gethostname(name, sizeof name - 1) == 0 ? name : "unknown";
}

std::string today() {
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d", std::localtime(&now));
  return date;
}

nlohmann::json machine_context() {
  utsname u{};
  ::uname(&u);
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", std::localtime(&now));
  nlohmann::json caches = nlohmann::json::array();
  const struct {
    int name;
    int level;
    const char* type;
  } levels[] = {{_SC_LEVEL1_DCACHE_SIZE, 1, "Data"},
                {_SC_LEVEL2_CACHE_SIZE, 2, "Unified"},
                {_SC_LEVEL3_CACHE_SIZE, 3, "Unified"}};
  for (const auto& l : levels)
    if (const long size = ::sysconf(l.name); size > 0)
      caches.push_back({{"type", l.type}, {"level", l.level}, {"size", size}});
  std::string thp = first_line("/sys/kernel/mm/transparent_hugepage/enabled");
  if (const auto open = thp.find('['), close = thp.find(']'); open != std::string::npos && close > open)
    thp = thp.substr(open + 1, close - open - 1);
  nlohmann::json context = {
      {"date", date},
      {"host_name", host_name()},
      {"num_cpus", ::sysconf(_SC_NPROCESSORS_ONLN)},
      {"cpu_model", cpuinfo_field("model name")},
      {"cpu_flags", cpuinfo_field("flags")},
      {"mhz_per_cpu", std::atof(cpuinfo_field("cpu MHz").c_str())},
      {"caches", caches},
      {"memory_bytes", meminfo_kib("MemTotal") * 1024L},
      {"swap_bytes", meminfo_kib("SwapTotal") * 1024L},
      {"kernel", std::string(u.sysname) + " " + u.release},
      {"transparent_hugepages", thp},
      {"libc", std::string("glibc ") + ::gnu_get_libc_version()},
      {"compiler", std::string("g++ ") + __VERSION__},
      {"compiler_flags", MEMSTRAT_CXX_FLAGS},
      {"gemm_kernel", gemm_kernel_name()},
      {"cpu_family", cpuinfo_field("cpu family")},
      {"git_revision", build_revision()},
      {"library_build_type", "release"},
  };
  // Left out, not null, when the binary was built outside a git checkout.
  if (const auto dirty = build_dirty()) context["git_dirty"] = *dirty;
  // The environment that tunes an allocator or the math library changes what a run
  // measures (MALLOC_CONF=dirty_decay_ms:-1 makes jemalloc 7x faster on PyTorch, README):
  // every such variable that is set, as it was.
  nlohmann::json tuning = nlohmann::json::object();
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    for (const char* prefix :
         {"MALLOC_", "JE_MALLOC", "MIMALLOC_", "TCMALLOC_", "GLIBC_TUNABLES", "OMP_", "OPENBLAS_", "LD_PRELOAD"})
      if (entry.rfind(prefix, 0) == 0 && entry.find('=') != std::string::npos) {
        tuning[entry.substr(0, entry.find('='))] = entry.substr(entry.find('=') + 1);
        break;
      }
  }
  if (!tuning.empty()) context["environment"] = tuning;
  return context;
}

std::optional<std::size_t> number_in(const std::string& path) {
  std::ifstream in(path);
  std::size_t value = 0;
  if (in >> value) return value;
  return std::nullopt;
}

}  // namespace memstrat::cli
