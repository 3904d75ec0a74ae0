#include "benches/cli/record.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/core.h>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "benches/cli/schema.h"

namespace memstrat::cli {

nlohmann::json failure_record(const std::string& name, const nlohmann::json& config, RunStatus status,
                              const std::string& reason) {
  return {{"name", name},     {"run_name", name},       {"run_type", "iteration"}, {"status", to_string(status)},
          {"reason", reason}, {"error_occurred", true}, {"error_message", reason}, {"config", config}};
}

nlohmann::json results_document(const std::vector<nlohmann::json>& records, const nlohmann::json& context) {
  nlohmann::json document = {{"context", context}, {"benchmarks", records}};
  // Google Benchmark writes its time fields on an errored run too, as 0, and its
  // compare.py reads them from every record: so do we, on failed runs only. Our own
  // readers take step_ms, which a failed run does not have.
  for (auto& r : document["benchmarks"])
    if (r.value("error_occurred", false) && !r.contains("real_time"))
      r["real_time"] = 0, r["cpu_time"] = 0, r["time_unit"] = "ms", r["iterations"] = 0;
  return document;
}

void write_file_atomically(const std::string& path, const std::string& text, const std::string& what) {
  const std::string temp = path + ".tmp";
  const auto fail = [&](int error) {
    ::unlink(temp.c_str());
    return std::runtime_error("cannot write " + what + " '" + path + "': " + std::strerror(error) +
                              " (any earlier file there is unchanged)");
  };
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + what + " '" + path + "': " + std::strerror(errno));
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : ENOSPC;
      ::close(fd);
      throw fail(error);
    }
    done += std::size_t(n);
  }
  if (::fsync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    throw fail(error);
  }
  if (::close(fd) != 0) throw fail(errno);
  if (::rename(temp.c_str(), path.c_str()) != 0) throw fail(errno);
}

void check_against_schema(const nlohmann::json& document) {
  const auto check = [](const nlohmann::json& object, const std::vector<KeySpec>& keys, const std::string& where) {
    if (const std::string why = schema_violation(object, keys); !why.empty())
      throw std::logic_error("results file: " + where + ": " + why);
  };
  if (document.contains("context")) check(document["context"], context_keys(), "context");
  for (const auto& record : document.value("benchmarks", nlohmann::json::array()))
    check(record, record_keys(), "record '" + record.value("name", std::string("?")) + "'");
}

void write_results_file(const std::string& path, const nlohmann::json& document) {
  check_against_schema(document);
  write_file_atomically(path, document.dump(1) + "\n", "results file");
}

nlohmann::json read_results_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read results file '" + path + "': " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  return parse_results_text(text.str(), path);
}

nlohmann::json parse_results_text(const std::string& text, const std::string& path) {
  nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
  if (document.is_discarded()) throw std::runtime_error("results file '" + path + "' is not valid JSON (truncated?)");
  if (!document.is_object() || !document.contains("benchmarks") || !document["benchmarks"].is_array())
    throw std::runtime_error("results file '" + path + "' has no \"benchmarks\" list: not a memstrat results file");
  const auto& records = document["benchmarks"];
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    if (!r.is_object() || !r.contains("name") || !r["name"].is_string() || !r.contains("status") ||
        !r["status"].is_string())
      throw std::runtime_error("results file '" + path + "' has a record without a name or status");
    // What resume and the summaries read from a record is checked here, so that they can trust it.
    const auto bad = [&](const std::string& what) {
      return std::runtime_error("results file '" + path + "': record " + std::to_string(i) + " (" +
                                r["name"].get<std::string>() + ") " + what);
    };
    const auto is = [&](const char* key, bool (nlohmann::json::*type)() const noexcept) {
      return r.contains(key) && (r[key].*type)();
    };
    // Every key the schema declares has its declared type; keys it does not know (an
    // older file's) are left alone.
    for (const auto& [key, value] : r.items())
      if (const KeySpec* spec = record_key(key); spec != nullptr && !has_schema_type(value, spec->type))
        throw bad("has a \"" + key + "\" that is " + value.type_name() + ", not " + spec->type);
    if (r.value("run_type", "") != "iteration") continue;
    if (!is("run_name", &nlohmann::json::is_string) || !is("config", &nlohmann::json::is_object))
      throw bad("is a run without a \"run_name\" or \"config\"");
    if (r.contains("allocator_version") && !r.contains("allocator"))
      throw bad("has an \"allocator_version\" but no \"allocator\"");
    if (r["status"] != "ok") continue;
    const auto& steps = r.value("step_times_ms", nlohmann::json());
    if (!is("step_ms", &nlohmann::json::is_number) || !steps.is_array() || steps.empty() ||
        !std::all_of(steps.begin(), steps.end(), [](const nlohmann::json& t) { return t.is_number(); }) ||
        !r.contains("losses") || !r["config"].contains("batch") || !r["config"]["batch"].is_number())
      throw bad("is an ok run without its step times, losses or batch");
  }
  return document;
}

void print_record_summary(const nlohmann::json& r) {
  auto mib = [](const nlohmann::json& v) { return v.get<double>() / (1024.0 * 1024.0); };
  fmt::print("{}: {}", r["name"].get<std::string>(), r["status"].get<std::string>());
  if (r["status"] != "ok") {
    fmt::print(" ({})\n", r.value("reason", ""));
    return;
  }
  fmt::print("\n  step {:.1f} ms (p10 {:.1f}, p90 {:.1f}), {:.1f} samples/s\n", r["step_ms"].get<double>(),
             r["step_ms_p10"].get<double>(), r["step_ms_p90"].get<double>(), r["samples_per_s"].get<double>());
  fmt::print("  peak RSS {:.1f} MiB (baseline {:.1f}), peak live {:.1f} MiB (estimated {:.1f})",
             mib(r["peak_rss_bytes"]), mib(r["baseline_rss_bytes"]), mib(r["peak_live_bytes"]),
             mib(r["predicted_peak_live_bytes"]));
  if (r.contains("overhead_ratio")) fmt::print(", overhead x{:.2f}", r["overhead_ratio"].get<double>());
  if (r.contains("fragmentation")) fmt::print(", fragmentation {:.1f}%", 100 * r["fragmentation"].get<double>());
  fmt::print("\n  loss {:.6f} -> {:.6f}\n", r["loss_first"].get<double>(), r["loss_last"].get<double>());
  if (r.contains("disturbed_reason"))
    fmt::print("  {}: {}\n", r.value("disturbed", false) ? "disturbed, its time is not to be trusted" : "noted",
               r["disturbed_reason"].get<std::string>());
}

}  // namespace memstrat::cli
