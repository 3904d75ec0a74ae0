# The build stamp: which commit a binary was built from, and whether the tracked
# files differed from it. Run at every build (cmake -P, from the always-run
# target memstrat_build_stamp in CMakeLists.txt), not at configure, so that a
# binary rebuilt after a commit or an edit says so without re-running cmake.
#
#   cmake -DSOURCE_DIR=<checkout> -DOUTPUT=<file.cpp> [-DGIT_EXECUTABLE=<git>] -P stamp.cmake
#
# Writes OUTPUT, a C++ source defining memstrat::cli::build_revision() and
# build_dirty() (declared in benches/cli/machine.h), only when its content
# changes: a build with nothing new recompiles and relinks nothing.
#
# Revision: `git rev-parse --short HEAD`. Dirty: a tracked file differs from HEAD,
# staged or not (`git status --porcelain --untracked-files=no` says anything);
# untracked files do not count. Outside a git checkout of SOURCE_DIR itself (a
# tarball, even one unpacked inside some other repository), or without git, the
# revision is "unknown" and dirty is unknown (std::nullopt).
if(NOT SOURCE_DIR OR NOT OUTPUT)
  message(FATAL_ERROR "stamp.cmake: usage: cmake -DSOURCE_DIR=<dir> -DOUTPUT=<file> [-DGIT_EXECUTABLE=<git>] -P stamp.cmake")
endif()
if(NOT GIT_EXECUTABLE)
  find_program(GIT_EXECUTABLE git)
endif()

set(revision "unknown")
set(dirty "std::nullopt")
if(GIT_EXECUTABLE)
  # The checkout must be SOURCE_DIR's own, not a repository that merely contains it.
  execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" rev-parse --show-toplevel
                  RESULT_VARIABLE rc OUTPUT_VARIABLE toplevel ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  get_filename_component(source_real "${SOURCE_DIR}" REALPATH)
  if(rc EQUAL 0 AND toplevel)
    get_filename_component(toplevel "${toplevel}" REALPATH)
  endif()
  if(rc EQUAL 0 AND toplevel STREQUAL source_real)
    execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" rev-parse --short HEAD
                    RESULT_VARIABLE rc OUTPUT_VARIABLE head ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(rc EQUAL 0 AND head MATCHES "^[0-9a-f]+$")
      set(revision "${head}")
      # --no-optional-locks: a build must not take the index lock from a git command
      # running at the same time. git status still hashes files whose stat data
      # changed, so a file touched but not changed is not dirty.
      execute_process(COMMAND "${GIT_EXECUTABLE}" --no-optional-locks -C "${SOURCE_DIR}"
                              status --porcelain --untracked-files=no
                      RESULT_VARIABLE rc OUTPUT_VARIABLE status ERROR_QUIET)
      if(rc EQUAL 0)
        if(status STREQUAL "")
          set(dirty "false")
        else()
          set(dirty "true")
        endif()
      endif()
    endif()
  endif()
endif()

set(content "// Generated at build time by cmake/stamp.cmake: do not edit.
#include \"benches/cli/machine.h\"

namespace memstrat::cli {

const char* build_revision() { return \"${revision}\"; }
std::optional<bool> build_dirty() { return ${dirty}; }

}  // namespace memstrat::cli
")

if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" previous)
  if(previous STREQUAL content)
    return()
  endif()
endif()
# Written whole, then renamed: an interrupted build never leaves half a file.
file(WRITE "${OUTPUT}.tmp" "${content}")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
if(dirty STREQUAL "true")
  set(state ", dirty")
elseif(dirty STREQUAL "false")
  set(state ", clean")
else()
  set(state ", not a git checkout: dirty unknown")
endif()
message(STATUS "memstrat: build stamp ${revision}${state}")
