# Tests of scripts/ (plot, report, compare), included by CMakeLists.txt.
