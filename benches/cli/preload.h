// Process-wide allocators are deployed as their users deploy them: preloaded.
// A command that trains under one re-executes itself with LD_PRELOAD set.
#pragma once

#include <string>

namespace memstrat::cli {

// main() hands its command line over, for the re-execution.
void remember_command_line(int argc, char** argv);
// The command line as one string, for results files.
std::string command_line_text();

// When `spec` names a process-wide allocator that this process was not started
// with, re-executes this program with it preloaded (and does not return).
// Throws SpecError for a spec that cannot be preloaded.
void ensure_preloaded(const std::string& spec);

}  // namespace memstrat::cli
