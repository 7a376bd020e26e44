# test_install.cmake - the install_consumer test (cmake -P), registered in CMakeLists.txt.
#
# Installs an already built tree into a prefix under the build tree, then proves that a project
# outside nn's build can use it, both ways a C user would:
#   1. CMake: examples/consumer configured with -DCMAKE_PREFIX_PATH=<prefix>
#      (find_package(nn 0.1 CONFIG REQUIRED), nn::nn), built and run;
#   2. pkg-config: cc main.c $(pkg-config --cflags --libs nn), run with LD_LIBRARY_PATH.
# It also checks that nn.pc's prefix (derived from ${pcfiledir}) resolves to the prefix, then
# moves the whole prefix elsewhere and does it all again: the installed tree is relocatable.
#
# Input variables (-D): NN_BUILD_DIR, NN_SOURCE_DIR, NN_VERSION, NN_C_COMPILER, NN_GENERATOR,
# NN_SANITIZE, NN_CONFIG, and optionally NN_PKG_CONFIG.
#
# A sanitized nn (NN_SANITIZE) is installed sanitized; the sanitizer runtime must then be the
# first library a program loads, so the consumer is compiled and linked with the same
# -fsanitize flags instead of skipping the test.
cmake_minimum_required(VERSION 3.20)

foreach(var NN_BUILD_DIR NN_SOURCE_DIR NN_VERSION NN_C_COMPILER NN_GENERATOR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "test_install.cmake: -D${var}=... is required")
  endif()
endforeach()

set(work "${NN_BUILD_DIR}/test_install")
set(consumer_src "${NN_SOURCE_DIR}/examples/consumer")
set(san_flags "")
if(NN_SANITIZE)
  set(san_flags -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
endif()
if(NOT NN_PKG_CONFIG)
  find_program(NN_PKG_CONFIG pkg-config REQUIRED)
endif()

# run(<description> <command>...): runs the command, echoing it, and fails the test if it fails.
function(run what)
  string(REPLACE ";" " " shown "${ARGN}")
  message(STATUS "${what}: ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: ${what} failed (${rc})")
  endif()
endfunction()

# pkg_config(<out-var> <pc-dir> <args>...): pkg-config's output with <pc-dir> searched first.
function(pkg_config out pcdir)
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env "PKG_CONFIG_PATH=${pcdir}" ${NN_PKG_CONFIG} ${ARGN}
    OUTPUT_VARIABLE text ERROR_VARIABLE err RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: pkg-config ${ARGN} failed: ${err}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# check_prefix(<prefix> <tag>): every check against nn installed in <prefix>.
function(check_prefix prefix tag)
  file(REAL_PATH "${prefix}" real_prefix)

  # -- nn.pc: where GNUInstallDirs put it (lib/, lib64/ or lib/<multiarch>/), and what it says
  file(GLOB_RECURSE pcs "${prefix}/nn.pc")
  list(LENGTH pcs n)
  if(NOT n EQUAL 1)
    message(FATAL_ERROR "install_consumer: expected one nn.pc under ${prefix}, found: ${pcs}")
  endif()
  get_filename_component(pcdir "${pcs}" DIRECTORY)

  pkg_config(version "${pcdir}" --modversion nn)
  if(NOT version STREQUAL NN_VERSION)
    message(FATAL_ERROR "install_consumer: nn.pc says version ${version}, expected ${NN_VERSION}")
  endif()
  pkg_config(pc_prefix "${pcdir}" --variable=prefix nn)
  pkg_config(includedir "${pcdir}" --variable=includedir nn)
  pkg_config(libdir "${pcdir}" --variable=libdir nn)
  file(REAL_PATH "${pc_prefix}" pc_real_prefix)
  if(NOT pc_real_prefix STREQUAL real_prefix)
    message(FATAL_ERROR
      "install_consumer: nn.pc's prefix ${pc_prefix} is ${pc_real_prefix}, not ${real_prefix}")
  endif()
  foreach(header nn/nn.h nn/version.h)
    if(NOT EXISTS "${includedir}/${header}")
      message(FATAL_ERROR "install_consumer: nn.pc's includedir ${includedir} has no ${header}")
    endif()
  endforeach()
  file(GLOB shared_libs "${libdir}/libnn.so*" "${libdir}/libnn.dylib")
  file(GLOB static_libs "${libdir}/libnn.a")
  if(NOT shared_libs AND NOT static_libs)
    message(FATAL_ERROR "install_consumer: nn.pc's libdir ${libdir} has no libnn")
  endif()
  message(STATUS "nn.pc: prefix ${pc_prefix} -> ${pc_real_prefix}")

  # -- CMake: find_package(nn 0.1 CONFIG REQUIRED) and nn::nn
  set(bin "${work}/consumer-${tag}")
  string(REPLACE ";" " " san_string "${san_flags}")
  run("configure consumer (${tag})" ${CMAKE_COMMAND} -S "${consumer_src}" -B "${bin}"
    -G "${NN_GENERATOR}" "-DCMAKE_C_COMPILER=${NN_C_COMPILER}" "-DCMAKE_PREFIX_PATH=${prefix}"
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_C_FLAGS=${san_string}"
    "-DCMAKE_EXE_LINKER_FLAGS=${san_string}")
  run("build consumer (${tag})" ${CMAKE_COMMAND} --build "${bin}")
  run("run consumer (${tag})" "${bin}/app")

  # -- pkg-config: cc main.c $(pkg-config --cflags --libs nn). A static libnn needs --static
  # so that its private dependencies (OpenBLAS, libm) are linked too.
  set(static "")
  if(NOT shared_libs)
    set(static --static)
  endif()
  pkg_config(flags "${pcdir}" --cflags --libs ${static} nn)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  set(app "${work}/app-pkg-config-${tag}")
  run("compile with pkg-config (${tag})" ${NN_C_COMPILER} ${san_flags}
    "${consumer_src}/main.c" ${flags} -o "${app}")
  run("run pkg-config build (${tag})" ${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${libdir}" "${app}")
endfunction()

file(REMOVE_RECURSE "${work}")
set(config_args "")
if(NN_CONFIG)
  set(config_args --config "${NN_CONFIG}")
endif()
run("install" ${CMAKE_COMMAND} --install "${NN_BUILD_DIR}" --prefix "${work}/prefix" ${config_args})
check_prefix("${work}/prefix" installed)

# Relocation: nothing in the installed tree may point back to where it was installed.
file(MAKE_DIRECTORY "${work}/moved")
file(RENAME "${work}/prefix" "${work}/moved/elsewhere")
check_prefix("${work}/moved/elsewhere" moved)

message(STATUS "install_consumer: CMake and pkg-config consumers work, before and after moving")
