# Builds the Debian package of a build tree with CPack, checks its metadata and contents, and
# unpacks it into a scratch root (no root rights needed: dpkg-deb -x), where the consumer and
# examples tests find it: ${WORK_DIR}/root/usr is the installed prefix. The packaged CLI must run.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/package)
execute_process(COMMAND ${CPACK} -G DEB --config ${JOULE_BUILD_DIR}/CPackConfig.cmake -B ${WORK_DIR}/package
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cpack -G DEB failed (${rc}): ${out} ${err}")
endif()
file(GLOB debs ${WORK_DIR}/package/joule_*.deb)
list(LENGTH debs n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "expected one joule_*.deb in ${WORK_DIR}/package, found ${n}: ${debs}")
endif()
message(STATUS "package: ${debs}")

# Metadata: name, version, what a program built against the package needs.
execute_process(COMMAND dpkg-deb --field ${debs} Package Version Depends Architecture
  RESULT_VARIABLE rc OUTPUT_VARIABLE fields)
message(STATUS "${fields}")
foreach(expected "Package: joule" "Version: ${JOULE_VERSION}" "libtorch-dev" "libhdf5-dev" "Architecture: ")
  string(FIND "${fields}" "${expected}" at)
  if(NOT rc EQUAL 0 OR at EQUAL -1)
    message(FATAL_ERROR "the package's control fields lack '${expected}':\n${fields}")
  endif()
endforeach()

# Contents: the library, an umbrella header, the CMake package and the CLI, under /usr.
execute_process(COMMAND dpkg-deb -x ${debs} ${WORK_DIR}/root RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "dpkg-deb -x failed (${rc})")
endif()
foreach(file lib/libjoule.a include/joule/joule.h lib/cmake/joule/jouleConfig.cmake lib/cmake/joule/jouleTargets.cmake bin/joule)
  if(NOT EXISTS ${WORK_DIR}/root/usr/${file})
    message(FATAL_ERROR "the package has no /usr/${file}")
  endif()
endforeach()
execute_process(COMMAND ${WORK_DIR}/root/usr/bin/joule presets RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "pcd_8gaussians")
  message(FATAL_ERROR "the packaged joule CLI did not list its presets (${rc}): ${out} ${err}")
endif()
