# Cross-compile bench_runner for arm64 Linux (glibc) with Debian's g++-aarch64-linux-gnu,
# against the UNPACKED aarch64 executorch wheel given as -DEXECUTORCH_ROOT=<...>/executorch.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Toolchain files run before the cache is loaded on try_compile: forward the wheel root.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EXECUTORCH_ROOT)

# Search only the cross sysroot and the unpacked wheel for libraries, headers and packages;
# never the host's x86_64 ones.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
if(EXECUTORCH_ROOT)
  list(APPEND CMAKE_FIND_ROOT_PATH "${EXECUTORCH_ROOT}")
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
