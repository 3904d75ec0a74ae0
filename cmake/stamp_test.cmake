# Test of cmake/stamp.cmake (ctest stamp.script, registered in tests/scripts.cmake).
#
#   cmake -DSTAMP_SCRIPT=<stamp.cmake> -DWORK_DIR=<scratch dir> [-DGIT_EXECUTABLE=<git>]
#         [-DSTAMP_SOURCE=<build's build_stamp.cpp> -DMEMSTRAT_CLI=<memstrat>] -P stamp_test.cmake
#
# Runs the stamp script on a fresh git repository in WORK_DIR and checks what it
# writes: the revision is HEAD's and changes with a new commit; dirty flips when
# a tracked file is modified (or a change is staged) and not for an untracked
# file; an unchanged state leaves the file untouched; a directory that is not a
# checkout of its own gets "unknown". With MEMSTRAT_CLI, also checks that the
# binary's `hwinfo` reports the stamp the build wrote (STAMP_SOURCE).
if(NOT STAMP_SCRIPT OR NOT WORK_DIR)
  message(FATAL_ERROR "usage: cmake -DSTAMP_SCRIPT=<stamp.cmake> -DWORK_DIR=<dir> -P stamp_test.cmake")
endif()
if(NOT GIT_EXECUTABLE)
  find_program(GIT_EXECUTABLE git)
endif()
if(NOT GIT_EXECUTABLE)
  message(FATAL_ERROR "stamp test: git not found; install git (apt-get install git)")
endif()
# The test's repository must not be steered by the environment of whoever runs it.
foreach(var GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_CEILING_DIRECTORIES)
  unset(ENV{${var}})
endforeach()

set(repo "${WORK_DIR}/repo")
set(stamp "${WORK_DIR}/build_stamp.cpp")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${repo}")

function(git)
  execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${repo}" -c user.name=stamp-test -c user.email=stamp@test
                          -c commit.gpgsign=false -c core.hooksPath=/dev/null ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "stamp test: git ${ARGN} failed (${rc}): ${out}${err}")
  endif()
  set(git_out "${out}" PARENT_SCOPE)
endfunction()

# Runs the stamp script on `dir`; sets revision and dirty ("true", "false" or "std::nullopt").
function(run_stamp dir)
  execute_process(COMMAND "${CMAKE_COMMAND}" -DSOURCE_DIR=${dir} -DOUTPUT=${stamp} -DGIT_EXECUTABLE=${GIT_EXECUTABLE}
                          -P "${STAMP_SCRIPT}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "stamp test: the stamp script failed (${rc}): ${out}${err}")
  endif()
  file(READ "${stamp}" text)
  if(NOT text MATCHES "build_revision\\(\\) { return \"([^\"]*)\"; }")
    message(FATAL_ERROR "stamp test: no revision in the stamp:\n${text}")
  endif()
  set(revision "${CMAKE_MATCH_1}" PARENT_SCOPE)
  if(NOT text MATCHES "build_dirty\\(\\) { return ([a-z:_]+); }")
    message(FATAL_ERROR "stamp test: no dirty flag in the stamp:\n${text}")
  endif()
  set(dirty "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

function(expect what actual expected)
  if(NOT actual STREQUAL expected)
    message(FATAL_ERROR "stamp test: ${what}: got '${actual}', expected '${expected}'")
  endif()
  message(STATUS "ok: ${what}: ${actual}")
endfunction()

# Not a checkout of its own: a plain directory (inside whatever repository holds
# the build directory, if any).
file(MAKE_DIRECTORY "${WORK_DIR}/tarball")
run_stamp("${WORK_DIR}/tarball")
expect("revision outside a checkout" "${revision}" "unknown")
expect("dirty outside a checkout" "${dirty}" "std::nullopt")

git(init --quiet)
file(WRITE "${repo}/tracked.txt" "one\n")
git(add tracked.txt)
git(commit --quiet -m first)
git(rev-parse --short HEAD)
set(first "${git_out}")
run_stamp("${repo}")
expect("revision after the first commit" "${revision}" "${first}")
expect("dirty after the first commit" "${dirty}" "false")

# Nothing changed: the file is left alone, so nothing that compiles it rebuilds.
file(TIMESTAMP "${stamp}" before "%s")
execute_process(COMMAND "${CMAKE_COMMAND}" -E sleep 1.1)
run_stamp("${repo}")
file(TIMESTAMP "${stamp}" after "%s")
expect("stamp file's time when nothing changed" "${after}" "${before}")

file(WRITE "${repo}/untracked.txt" "not in git\n")
run_stamp("${repo}")
expect("dirty with an untracked file" "${dirty}" "false")

file(WRITE "${repo}/tracked.txt" "one, changed\n")
run_stamp("${repo}")
expect("revision with a modified tracked file" "${revision}" "${first}")
expect("dirty with a modified tracked file" "${dirty}" "true")

git(add tracked.txt)
run_stamp("${repo}")
expect("dirty with a staged change" "${dirty}" "true")

git(commit --quiet -m second)
git(rev-parse --short HEAD)
set(second "${git_out}")
if(second STREQUAL first)
  message(FATAL_ERROR "stamp test: the second commit has the first one's revision")
endif()
run_stamp("${repo}")
expect("revision after a second commit" "${revision}" "${second}")
expect("dirty after the second commit" "${dirty}" "false")

# A subdirectory of a checkout is not a checkout of its own.
file(MAKE_DIRECTORY "${repo}/sub")
run_stamp("${repo}/sub")
expect("revision in a subdirectory of a checkout" "${revision}" "unknown")

# The binary reports what its build stamped.
if(MEMSTRAT_CLI)
  file(READ "${STAMP_SOURCE}" text)
  string(REGEX MATCH "build_revision\\(\\) { return \"([^\"]*)\"; }" _ "${text}")
  set(built_revision "${CMAKE_MATCH_1}")
  string(REGEX MATCH "build_dirty\\(\\) { return ([a-z:_]+); }" _ "${text}")
  set(built_dirty "${CMAKE_MATCH_1}")
  if(built_dirty STREQUAL "std::nullopt")
    set(built_dirty "null")
  endif()
  execute_process(COMMAND "${MEMSTRAT_CLI}" hwinfo RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "stamp test: memstrat hwinfo failed (${rc}): ${err}")
  endif()
  string(REGEX MATCH "\"git_revision\": \"([^\"]*)\"" _ "${out}")
  expect("hwinfo's git_revision" "${CMAKE_MATCH_1}" "${built_revision}")
  string(REGEX MATCH "\"git_dirty\": ([a-z]+)" _ "${out}")
  expect("hwinfo's git_dirty" "${CMAKE_MATCH_1}" "${built_dirty}")
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
