# Tests of scripts/ (plot, report, compare), included by CMakeLists.txt.
#
# Each runs one group of tests/scripts/test_scripts.py on the committed fixture
# tests/fixtures/results-small.json, with a Python that has matplotlib. Where there is
# no such Python the test fails and says what to install: it never skips silently.
foreach(group Plot Report Compare UTest BadFiles)
  string(TOLOWER ${group} name)
  add_test(NAME scripts.${name} COMMAND ${PROJECT_SOURCE_DIR}/tests/scripts/run_tests.sh ${group})
  set_tests_properties(scripts.${name} PROPERTIES TIMEOUT 600 LABELS scripts)
endforeach()
