#include "benches/cli/session.h"

#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fmt/core.h>

#include "benches/cli/faults.h"
#include "benches/cli/preflight.h"
#include "benches/cli/trace.h"
#include "strategies/registry.h"

namespace memstrat::cli {

ModelSpec model_spec(const RunOptions& o) {
  ModelSpec spec = parse_model_spec(o.model);
  spec.image = o.image, spec.channels = o.channels, spec.classes = o.classes;
  if (o.channels != 0 && spec.name != "deepconv") throw std::invalid_argument("--channels applies to deepconv only");
  return spec;
}

void check_rank_slices(const RunOptions& o) {
  if (o.ranks > o.batch)
    throw std::invalid_argument(
        fmt::format("--ranks {} is more ranks than the batch of {} has samples", o.ranks, o.batch));
  if (o.batch % o.ranks != 0)
    throw std::invalid_argument(
        fmt::format("--ranks {} does not divide the batch of {} into equal slices", o.ranks, o.batch));
}

TrainOptions train_options(const RunOptions& o, const TechniqueSet& techniques, const Model& model) {
  const int layers = int(model.layers.size());
  if (o.lr && (!std::isfinite(*o.lr) || *o.lr <= 0.0 || *o.lr > 100.0))
    throw std::invalid_argument(fmt::format("--lr must be a positive number up to 100 (got {})", *o.lr));
  TrainOptions t;
  t.batch = o.batch;
  t.optimizer.kind = parse_optimizer(o.optimizer);
  if (o.lr)
    t.optimizer.lr = float(*o.lr);
  else
    t.optimizer.lr = t.optimizer.kind == OptimizerKind::adam ? 1e-3f : model.default_sgd_lr;
  // Data parallelism: the batch is every rank's; each trains on its slice.
  t.ranks = o.ranks;
  t.zero_stage = techniques.zero_stage >= 0 ? techniques.zero_stage : (o.ranks > 1 ? 0 : -1);
  check_rank_slices(o);
  t.global_batch = o.batch;
  t.batch = o.batch / o.ranks;
  t.accum = techniques.accum;
  t.recompute_segment =
      techniques.recompute_segment < 0 ? default_recompute_segment(layers) : techniques.recompute_segment;
  if (t.accum > t.batch)
    throw std::invalid_argument(
        fmt::format("accum:{} is more micro-batches than the batch of {} has samples", t.accum, t.batch));
  if (techniques.recompute_segment >= layers)
    throw std::invalid_argument(fmt::format(
        "recompute:{}: segments of {} layers cover all {} layers of {}, so nothing would be recomputed (use 1 to {})",
        techniques.recompute_segment, techniques.recompute_segment, layers, model.name, layers - 1));
  if (t.batch % t.accum != 0)
    throw std::invalid_argument(
        fmt::format("accum:{} does not divide the batch of {} into equal micro-batches", t.accum, t.batch));
  omp_set_num_threads(o.threads > 0 ? o.threads : std::max(1, omp_get_num_procs() / o.ranks));
  return t;
}

TempFile::~TempFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (std::fabs(bytes) >= 1024.0 && u < 4) bytes /= 1024.0, ++u;
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

namespace {

std::string temp_dataset_path() {
  const char* dir = std::getenv("TMPDIR");
  std::string pattern = std::string(dir && *dir ? dir : "/tmp") + "/memstrat-data-XXXXXX";
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) throw DataError("cannot create a temporary dataset in " + pattern.substr(0, pattern.rfind('/')));
  ::close(fd);
  return pattern;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

namespace {
Collective* (*g_rank_factory)() = nullptr;
}  // namespace

void set_rank_collective_factory(Collective* (*factory)()) { g_rank_factory = factory; }
bool is_rank_process() { return g_rank_factory != nullptr; }
Collective* rank_collective() {
  static Collective* comm = g_rank_factory ? g_rank_factory() : nullptr;
  return comm;
}

std::unique_ptr<Session> open_session(const RunOptions& o, bool rank_zero_alone) {
  auto s = std::make_unique<Session>();
  s->options = o;
  s->model = build_model(model_spec(o));
  s->allocator = make_allocator(o.alloc);
  s->techniques = make_techniques(o.tech);
  s->store = s->techniques.store ? std::move(s->techniques.store) : std::make_unique<ActivationStore>();
  s->train = train_options(o, s->techniques, s->model);
  requested_fault();  // a malformed MEMSTRAT_FAULT is refused before anything runs

  // What cannot fit is refused before it takes anything: the estimator's figure is a floor.
  const MemoryNeed need = memory_need(o, s->model);
  const std::size_t available = available_memory_bytes();
  if (const std::string shortfall = memory_shortfall(need, available); !shortfall.empty())
    throw std::runtime_error(fmt::format("{} batch {}{} {}: refused; {}", o.model, o.batch,
                                         o.tech == "none" ? "" : " with " + o.tech, shortfall,
                                         memory_advice(need, available)));

  // The dataset: the named file, generated when absent; else a temporary one.
  const DatasetInfo info = planned_dataset(o, s->model);
  std::string path = o.data;
  if (path.empty()) {
    s->temp_data = TempFile(temp_dataset_path());
    path = s->temp_data.path();
  }
  if (path == s->temp_data.path() || !file_exists(path)) {
    check_disk_space(path, info);
    generate_dataset(path, info);
  }
  s->data = open_batch_source(path, parse_data_mode(o.data_mode), o.batch);
  // Once open, a temporary dataset needs no name: unlinked now, it goes away even
  // when the run is killed (SIGKILL, a budget's OOM kill, a timeout).
  if (!s->temp_data.path().empty()) s->temp_data = TempFile();

  s->model.init(*s->allocator, o.seed);
  if (s->train.zero_stage >= 0) {
    s->comm = rank_collective();
    if (s->comm == nullptr) {
      if (o.ranks > 1 && !rank_zero_alone)
        throw std::invalid_argument(
            fmt::format("--ranks {} trains in {} MPI processes: `memstrat run` and `train` start them "
                        "under mpirun; this command trains in one",
                        o.ranks, o.ranks));
      s->local_comm = std::make_unique<LocalCollective>(o.ranks);
      s->comm = s->local_comm.get();
    }
    if (s->comm->size() != o.ranks)
      throw std::invalid_argument(fmt::format("--ranks {} but the MPI run has {} processes", o.ranks, s->comm->size()));
    s->train.first_sample = s->comm->rank() * s->train.batch;
  }
  s->trainer = std::make_unique<Trainer>(s->model, *s->allocator, *s->store, *s->data, s->train, false, s->comm);
  // The step ahead, from the dry run: a strategy that plans or sizes itself does it now,
  // before the first step, instead of recording that step (ggml's reserve pass).
  s->allocator->reserve_step(step_buffers(record_trace(o)));
  arm_allocation_fault(*s->allocator);  // counted from the first training step's first request
  return s;
}

}  // namespace memstrat::cli
