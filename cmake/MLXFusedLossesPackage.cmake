# The C++ package: public headers and a CMake config next to libmlx_fused_losses,
#   <package>/libmlx_fused_losses.so (.dylib)  [+ mlx_fused_losses.metallib]
#   <package>/include/mlx_fused_losses/losses.h
#   <package>/share/cmake/MLXFusedLosses/MLXFusedLossesConfig[Version].cmake
# both in the wheel (install rules) and in a development build (staged into
# python/mlx_fused_losses), so `python -m mlx_fused_losses --cmake-dir` prints a
# CMAKE_PREFIX_PATH entry in either case. Included from CMakeLists.txt.
include(CMakePackageConfigHelpers)

file(GLOB MFL_PUBLIC_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/csrc/mlx_fused_losses/*.h)
set(MFL_LIBRARY_FILE
  ${CMAKE_SHARED_LIBRARY_PREFIX}mlx_fused_losses${CMAKE_SHARED_LIBRARY_SUFFIX})
if(APPLE)
  set(MFL_LIBRARY_SONAME "@rpath/${MFL_LIBRARY_FILE}")
else()
  set(MFL_LIBRARY_SONAME "${MFL_LIBRARY_FILE}")
endif()

# Writes the config into `dir`. `dev_mlx_dir`: an extra place to look for MLX
# (a development tree has no site-packages/mlx next to it); empty for the wheel,
# whose config must hold no absolute path.
function(mfl_write_package_config dir dev_mlx_dir)
  set(MFL_DEV_MLX_DIR "${dev_mlx_dir}")
  configure_file(${PROJECT_SOURCE_DIR}/cmake/MLXFusedLossesConfig.cmake.in
                 ${dir}/MLXFusedLossesConfig.cmake @ONLY)
  write_basic_package_version_file(${dir}/MLXFusedLossesConfigVersion.cmake
    VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
endfunction()

if(SKBUILD)
  set(config_dir ${CMAKE_CURRENT_BINARY_DIR}/package)
  mfl_write_package_config(${config_dir} "")
  install(FILES ${MFL_PUBLIC_HEADERS} DESTINATION mlx_fused_losses/include/mlx_fused_losses)
  install(FILES ${config_dir}/MLXFusedLossesConfig.cmake
                ${config_dir}/MLXFusedLossesConfigVersion.cmake
          DESTINATION mlx_fused_losses/share/cmake/MLXFusedLosses)
else()
  foreach(header ${MFL_PUBLIC_HEADERS})
    get_filename_component(name ${header} NAME)
    configure_file(${header} ${MFL_OUTPUT_DIR}/include/mlx_fused_losses/${name} COPYONLY)
  endforeach()
  get_filename_component(mlx_prefix "${MLX_DIR}/../../.." ABSOLUTE)
  mfl_write_package_config(${MFL_OUTPUT_DIR}/share/cmake/MLXFusedLosses "\"${mlx_prefix}\"")
endif()
