// memstrat: measures how memory strategies change the peak memory and the
// speed of a real training loop. See `memstrat --help`.
#include "benches/cli/entry.h"

int main(int argc, char** argv) { return memstrat::cli::cli_main(argc, argv); }
