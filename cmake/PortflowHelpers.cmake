# portflow_cc_library(NAME name SRCS ... DEPS ...): one library per folder,
# exported as portflow::<name>.
function(portflow_cc_library)
  cmake_parse_arguments(L "" "NAME" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(portflow_${L_NAME} STATIC ${L_SRCS})
  add_library(portflow::${L_NAME} ALIAS portflow_${L_NAME})
  target_include_directories(portflow_${L_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(portflow_${L_NAME} PUBLIC ${L_DEPS} PRIVATE ${L_PRIVATE_DEPS})
  portflow_warnings(portflow_${L_NAME})
endfunction()

# portflow_cc_test(NAME name SRCS ... DEPS ... [LABELS ...] [WHOLE]): a
# GoogleTest binary registered with CTest, each case with a timeout. WHOLE
# registers the binary as one CTest test, for suites whose cases come from
# files at run time (discovery would miss files added after a build).
function(portflow_cc_test)
  if(NOT PORTFLOW_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "WHOLE" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${T_SRCS})
  # Per file even where the libraries build in batches (CMAKE_UNITY_BUILD):
  # test files share helper names.
  set_target_properties(${T_NAME} PROPERTIES UNITY_BUILD OFF)
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${T_NAME} PRIVATE
    PORTFLOW_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    PORTFLOW_BINARY_DIR="${PROJECT_BINARY_DIR}")
  portflow_warnings(${T_NAME})
  if(T_WHOLE)
    add_test(NAME ${T_NAME} COMMAND ${T_NAME})
    set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
  else()
    include(GoogleTest)
    gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60
      PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
  endif()
endfunction()

function(portflow_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
  if(PORTFLOW_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# portflow_use_jemalloc(target): links jemalloc where the build uses it
# (PORTFLOW_JEMALLOC, not in sanitizer builds).
function(portflow_use_jemalloc target)
  if(JEMALLOC_LIBRARY)
    target_link_libraries(${target} PRIVATE ${JEMALLOC_LIBRARY})
  endif()
endfunction()
