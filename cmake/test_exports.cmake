# test_exports.cmake - the shared library exports its public API and nothing else.
#
#   cmake -DNN_LIB=<path to libnn.so> -DNN_NM=<nm> -DNN_INCLUDE_DIR=<include/nn>
#         -DNN_GENERATED_HEADER=<nn_version.h> -P test_exports.cmake
#
# Every nn_ symbol in the dynamic symbol table must be declared in a public header
# (include/nn/*.h or the generated version header), so helpers shared between the
# library's sources (src/internal.h and the like, declared hidden) do not become
# ABI by accident.

execute_process(COMMAND ${NN_NM} -D --defined-only ${NN_LIB}
  OUTPUT_VARIABLE symbols RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NN_NM} -D ${NN_LIB} failed: ${err}")
endif()

file(GLOB headers ${NN_INCLUDE_DIR}/*.h)
set(declared "")
foreach(h IN LISTS headers NN_GENERATED_HEADER)
  file(READ ${h} text)
  string(APPEND declared "${text}\n")
endforeach()

string(REGEX MATCHALL "[^\n]+" lines "${symbols}")
set(exported 0)
set(stray "")
foreach(line IN LISTS lines)
  # "<address> <type> <name>": functions (T), data (D, B, R), and a function built in
  # clones (an indirect function, i, and its resolver, W), of the library's own.
  if(line MATCHES "^[0-9a-fA-F]+ [TDBRiW] (nn_[A-Za-z0-9_.]+)$")
    set(name ${CMAKE_MATCH_1})
    math(EXPR exported "${exported} + 1")
    if(NOT declared MATCHES "[^A-Za-z0-9_]${name}[ ]*\\(")
      list(APPEND stray ${name})
    endif()
  endif()
endforeach()

if(exported LESS 50)
  message(FATAL_ERROR "only ${exported} nn_ symbols found in ${NN_LIB}: is it the shared library?")
endif()
if(stray)
  list(JOIN stray ", " stray_list)
  message(FATAL_ERROR "exported but not declared in a public header: ${stray_list}")
endif()
message(STATUS "${exported} exported nn_ symbols, all declared in public headers")
