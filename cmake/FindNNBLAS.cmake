# Finds BLAS (OpenBLAS preferred) and the directory holding its cblas.h.
# Sets: BLAS::BLAS (imported target), NN_CBLAS_INCLUDE_DIR, NN_HAVE_OPENBLAS.
#
# Debian's libopenblas-dev installs cblas.h under an arch- and variant-specific
# directory (e.g. include/x86_64-linux-gnu/openblas-pthread); the variant is the
# name of the directory the real library file lives in, so it is derived from the
# resolved library path instead of being assumed.

if(NOT DEFINED BLA_VENDOR)
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS QUIET)
  if(NOT BLAS_FOUND)
    unset(BLA_VENDOR)
    find_package(BLAS)
  endif()
else()
  find_package(BLAS)
endif()
if(NOT BLAS_FOUND)
  message(FATAL_ERROR "nn needs BLAS with a CBLAS interface. On Debian: apt-get install libopenblas-dev")
endif()

set(_nn_cblas_hints "")
set(_nn_cblas_suffixes openblas-pthread openblas-openmp openblas-serial openblas blis-pthread blis)
foreach(_lib IN LISTS BLAS_LIBRARIES)
  if(EXISTS "${_lib}")
    get_filename_component(_real "${_lib}" REALPATH)
    get_filename_component(_dir "${_real}" DIRECTORY)
    get_filename_component(_variant "${_dir}" NAME)
    list(PREPEND _nn_cblas_suffixes "${_variant}")
    get_filename_component(_prefix "${_dir}/../.." ABSOLUTE)
    list(APPEND _nn_cblas_hints "${_prefix}/include" "${_dir}/../../include")
  endif()
endforeach()
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(_NN_PC_OPENBLAS QUIET openblas)
  list(APPEND _nn_cblas_hints ${_NN_PC_OPENBLAS_INCLUDE_DIRS})
endif()
find_path(NN_CBLAS_INCLUDE_DIR cblas.h
  HINTS ${_nn_cblas_hints}
  PATH_SUFFIXES ${_nn_cblas_suffixes}
  DOC "Directory containing cblas.h")
if(NOT NN_CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "cblas.h not found. On Debian: apt-get install libopenblas-dev")
endif()

include(CheckSymbolExists)
include(CMakePushCheckState)
cmake_push_check_state(RESET)
set(CMAKE_REQUIRED_INCLUDES ${NN_CBLAS_INCLUDE_DIR})
set(CMAKE_REQUIRED_LIBRARIES ${BLAS_LIBRARIES})
check_symbol_exists(openblas_set_num_threads cblas.h NN_HAVE_OPENBLAS)
cmake_pop_check_state()
message(STATUS "nn: BLAS ${BLAS_LIBRARIES}, cblas.h in ${NN_CBLAS_INCLUDE_DIR}, OpenBLAS threads API: ${NN_HAVE_OPENBLAS}")
