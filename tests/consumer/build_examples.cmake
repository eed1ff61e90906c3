# Builds examples/ against Joule as the Debian package installs it (PREFIX), as a user would, and
# runs each example for a few steps: an example that no longer compiles or runs fails here.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${EXAMPLES_DIR} -B ${WORK_DIR}/build
  -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_BUILD_TYPE=Release RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring examples/ against the package failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build -j 2 RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building examples/ against the package failed (${rc})")
endif()
# example and its steps (small: this checks that they run, not what they reach)
set(runs "relax 30" "ebm_pcd 20" "score_matching 20" "custom_energy 50" "rbm 50" "jem 10" "vera 20" "icd 10" "ffjord 10"
  "ica 20" "goodness_of_fit 50")
foreach(run ${runs})
  separate_arguments(run)
  list(GET run 0 example)
  list(GET run 1 steps)
  execute_process(COMMAND ${WORK_DIR}/build/${example} ${steps} ${WORK_DIR}/runs/${example}
    WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "example ${example} failed (${rc}):\n${out}\n${err}")
  endif()
  if(NOT EXISTS ${WORK_DIR}/runs/${example})
    message(FATAL_ERROR "example ${example} wrote nothing to ${WORK_DIR}/runs/${example}")
  endif()
  message(STATUS "${example} ${steps} steps: ok")
endforeach()
