# mfl_add_family(NAME): registers one loss family's sources.
#   csrc/NAME/*.cpp but bindings.cpp  -> the C++ library
#   csrc/NAME/cpu_dtype.cpp.in        -> instantiated once per dtype (so the
#                                        dtypes' CPU kernels compile in parallel)
#   csrc/NAME/bindings.cpp            -> the Python module (add_NAME_bindings)
#   kernels/NAME/*.metal, *.h         -> the metallib and its dependencies
# The lists accumulate in global properties that CMakeLists.txt reads.
function(mfl_add_family name)
  set(dir ${PROJECT_SOURCE_DIR}/csrc/${name})
  file(GLOB sources CONFIGURE_DEPENDS ${dir}/*.cpp)
  list(FILTER sources EXCLUDE REGEX "/bindings\\.cpp$")
  if(EXISTS ${dir}/cpu_dtype.cpp.in)
    foreach(pair "float32=float" "float16=mx::float16_t" "bfloat16=mx::bfloat16_t"
            "float64=double")
      string(REPLACE "=" ";" pair "${pair}")
      list(GET pair 0 dtype)
      list(GET pair 1 MFL_CPP_TYPE)
      set(source ${CMAKE_CURRENT_BINARY_DIR}/generated/${name}/cpu_${dtype}.cpp)
      configure_file(${dir}/cpu_dtype.cpp.in ${source} @ONLY)
      list(APPEND sources ${source})
    endforeach()
  endif()
  file(GLOB metal CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/${name}/*.metal)
  file(GLOB metal_headers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/${name}/*.h)
  set_property(GLOBAL APPEND PROPERTY MFL_LIBRARY_SOURCES ${sources})
  set_property(GLOBAL APPEND PROPERTY MFL_BINDING_SOURCES ${dir}/bindings.cpp)
  set_property(GLOBAL APPEND PROPERTY MFL_METAL_SOURCES ${metal})
  set_property(GLOBAL APPEND PROPERTY MFL_METAL_DEPS ${metal_headers})
endfunction()
