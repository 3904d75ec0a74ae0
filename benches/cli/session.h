// What every command that trains needs: the options naming a configuration,
// and the objects built from them (model, allocator, data, store), built in the
// order the measurement requires (data and model first, then training).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "benches/cli/options.h"
#include "kernels/activation.h"
#include "kernels/data.h"
#include "kernels/models.h"
#include "kernels/trainer.h"
#include "strategies/techniques.h"

namespace memstrat::cli {

ModelSpec model_spec(const RunOptions& options);
// Checks the options against each other; also sets the OpenMP thread count.
TrainOptions train_options(const RunOptions& options, const TechniqueSet& techniques, const Model& model);
// Throws unless --ranks cuts the batch into equal slices of at least one sample.
void check_rank_slices(const RunOptions& options);

// A dataset file that is removed when the session ends (when none was named).
class TempFile {
 public:
  TempFile() = default;
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  ~TempFile();
  TempFile(TempFile&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  TempFile& operator=(TempFile&& other) noexcept {
    std::swap(path_, other.path_);
    return *this;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Members are destroyed bottom-up: the allocator outlives every buffer.
struct Session {
  RunOptions options;
  std::unique_ptr<Allocator> allocator;
  TechniqueSet techniques;
  std::unique_ptr<ActivationStore> store;  // the techniques' store, or the plain one
  Model model;
  TempFile temp_data;
  std::unique_ptr<BatchSource> data;
  std::unique_ptr<Collective> local_comm;  // one rank's, when this process is not one of MPI's
  Collective* comm = nullptr;              // under data parallelism: the ranks' collective
  std::unique_ptr<Trainer> trainer;
  TrainOptions train;
};

// Checks the options, makes or opens the dataset, builds the model and takes its
// memory, and sets up the trainer. Throws with a one-line message on bad input.
// Under --ranks outside mpirun, `rank_zero_alone` makes the session rank 0 of that
// many talking to no one (the replay of a rank's allocations); else it is refused.
std::unique_ptr<Session> open_session(const RunOptions& options, bool rank_zero_alone = false);

std::string format_bytes(double bytes);

// The collective of this process when it is one rank of an MPI run: the rank's main
// (benches/mpi/) gives a factory, called once when a session first needs it (after a
// preloading re-exec, so MPI starts in the process that trains). Null in memstrat.
void set_rank_collective_factory(Collective* (*factory)());
bool is_rank_process();
Collective* rank_collective();

}  // namespace memstrat::cli
