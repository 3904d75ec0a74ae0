// memstrat-rank: one MPI rank of `memstrat run --ranks N`, which starts N of them
// under mpirun. It is memstrat's own command line with an MPI collective behind the
// session; MPI starts when the session first needs it, after any preloading re-exec.
#include <mpi.h>
#include <sys/prctl.h>

#include <csignal>
#include <cstdio>
#include <memory>

#include "benches/cli/entry.h"
#include "benches/cli/record.h"
#include "benches/cli/session.h"
#include "benches/mpi/mpi_collective.h"

namespace {

std::unique_ptr<memstrat::MpiCollective> g_comm;

memstrat::Collective* start_mpi() {
  g_comm = std::make_unique<memstrat::MpiCollective>();
  return g_comm.get();
}

}  // namespace

int main(int argc, char** argv) {
  // A rank never outlives the mpirun that started it (killed for a time limit, say).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  memstrat::cli::set_rank_collective_factory(start_mpi);
  const int rc = memstrat::cli::cli_main(argc, argv);
  // A rank that failed alone would leave the others waiting in a collective: abort
  // them all (mpirun then names this rank). A diverged run diverged on every rank (the
  // loss is all-reduced), so they all end alike.
  if (rc != 0 && rc != memstrat::cli::kDivergedExit && g_comm) {
    std::fprintf(stderr, "memstrat: rank %d of %d failed (exit %d): the others are stopped\n", g_comm->rank(),
                 g_comm->size(), rc);
    MPI_Abort(MPI_COMM_WORLD, rc);
  }
  g_comm.reset();  // MPI_Finalize, after every buffer of the run is gone
  return rc;
}
