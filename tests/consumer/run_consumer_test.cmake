# Configures, builds and runs a downstream project that only does find_package(joule), against
# Joule as the Debian package installs it (PREFIX: the package unpacked by package_deb.cmake).
# Fails on any error.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build
  -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the consumer project failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build -j 2 RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the consumer project failed (${rc})")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer ${JOULE_BIN} ${WORK_DIR}/runs RESULT_VARIABLE rc OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
message(STATUS "consumer said: ${out}")
if(NOT rc EQUAL 0 OR NOT out MATCHES "consumer ok")
  message(FATAL_ERROR "the consumer program failed (${rc}): ${out} ${err}")
endif()
