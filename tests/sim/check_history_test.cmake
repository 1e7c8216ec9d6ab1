# check_history_test.cmake — runs `raftkv-sim --check-history` on one history
# file and checks its exit code and output (tests/sim/CMakeLists.txt).
#
#   cmake -DSIM=path/to/raftkv-sim -DHISTORY=file -DWANT_EXIT=0|1|2
#         -DWANT_OUTPUT=regex [-DSTEPS_MAX=N] -P check_history_test.cmake
#
# WANT_OUTPUT is matched against stdout followed by stderr. ctest alone can
# check an output pattern or that a command failed, not which exit code it
# gave, and the codes carry the verdict: 0 linearizable, 1 not, 2 unknown or
# invalid input.
foreach(var SIM HISTORY WANT_EXIT WANT_OUTPUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_history_test.cmake: -D${var}=... is required")
  endif()
endforeach()
set(args --check-history ${HISTORY})
if(DEFINED STEPS_MAX)
  list(APPEND args --check-steps-max ${STEPS_MAX})
endif()
execute_process(COMMAND ${SIM} ${args}
                RESULT_VARIABLE got_exit OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT got_exit STREQUAL WANT_EXIT)
  message(FATAL_ERROR "raftkv-sim ${args}: exit ${got_exit}, want ${WANT_EXIT}")
endif()
if(NOT "${out}${err}" MATCHES "${WANT_OUTPUT}")
  message(FATAL_ERROR "raftkv-sim ${args}: output does not match '${WANT_OUTPUT}'")
endif()
