# Tests of scripts/ (plot, report, compare) and of the build stamp, included by CMakeLists.txt.
#
# Each runs one group of tests/scripts/test_scripts.py on the committed fixture
# tests/fixtures/results-small.json, with a Python that has matplotlib. Where there is
# no such Python the test fails and says what to install: it never skips silently.
foreach(group Plot Report Compare UTest BadFiles ReadmeFigures KernelVsTorch)
  string(TOLOWER ${group} name)
  add_test(NAME scripts.${name} COMMAND ${PROJECT_SOURCE_DIR}/tests/scripts/run_tests.sh ${group})
  set_tests_properties(scripts.${name} PROPERTIES TIMEOUT 600 LABELS scripts)
endforeach()
# scripts/prediction_error runs the memstrat this build made.
add_test(NAME scripts.predictionerror COMMAND ${PROJECT_SOURCE_DIR}/tests/scripts/run_tests.sh PredictionError)
set_tests_properties(scripts.predictionerror PROPERTIES TIMEOUT 600 LABELS scripts
                     ENVIRONMENT MEMSTRAT_CLI=$<TARGET_FILE:memstrat>)
# workloads/torch_train.py, the PyTorch replica of the kernel, against the memstrat this
# build made: the same first loss within 1e-5, its steps marked, bad arguments refused.
# It runs with Debian's Python, where `make setup-torch` installs python3-torch; without
# PyTorch the test fails and says to run make setup-torch.
set(MEMSTRAT_TORCH_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with PyTorch for the scripts.torch test")
add_test(NAME scripts.torch COMMAND ${MEMSTRAT_TORCH_PYTHON} ${PROJECT_SOURCE_DIR}/tests/scripts/test_torch.py)
set_tests_properties(scripts.torch PROPERTIES TIMEOUT 600 LABELS scripts
                     ENVIRONMENT "MEMSTRAT_CLI=$<TARGET_FILE:memstrat>;PYTHONDONTWRITEBYTECODE=1")

# cmake/stamp.cmake, the build stamp, on a fresh git repository of its own: the
# revision follows new commits, dirty follows modified tracked files. Then the
# built memstrat's hwinfo must report the stamp this build wrote.
add_test(NAME stamp.script
         COMMAND ${CMAKE_COMMAND} -DSTAMP_SCRIPT=${PROJECT_SOURCE_DIR}/cmake/stamp.cmake
                 -DWORK_DIR=${CMAKE_BINARY_DIR}/Testing/stamp-test -DGIT_EXECUTABLE=${GIT_EXECUTABLE}
                 -DSTAMP_SOURCE=${MEMSTRAT_STAMP_SOURCE} -DMEMSTRAT_CLI=$<TARGET_FILE:memstrat>
                 -P ${PROJECT_SOURCE_DIR}/cmake/stamp_test.cmake)
set_tests_properties(stamp.script PROPERTIES TIMEOUT 120 LABELS scripts)

# The HTML report (scripts/report --html, scripts/compare --html) in Debian's headless
# Chromium: loads without a console error, every chart rendered, the picker redraws.
# Without Chromium the test fails and says to run scripts/setup.sh --browser.
add_test(NAME scripts.browser COMMAND ${MEMSTRAT_TORCH_PYTHON} ${PROJECT_SOURCE_DIR}/tests/scripts/test_browser.py)
set_tests_properties(scripts.browser PROPERTIES TIMEOUT 600 LABELS scripts
                     ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1;MEMSTRAT_SCREENSHOTS=${CMAKE_BINARY_DIR}/Testing/screenshots")
