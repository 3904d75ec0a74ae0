// The whole command line of memstrat, for the programs that are it: memstrat itself
// and memstrat-rank (benches/mpi/), one MPI rank of a `run --ranks N`.
#pragma once

namespace memstrat::cli {

int cli_main(int argc, char** argv);

}  // namespace memstrat::cli
