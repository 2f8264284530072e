# Locates the ONNX Runtime library and C headers that npm installed:
#   ORT_LIBRARY      libonnxruntime.so.1 from onnxruntime-node (the binary onnxruntime-node itself uses)
#   ORT_INCLUDE_DIR  Microsoft's official C headers from com.github.asus4.onnxruntime
# Either can be overridden with -DORT_LIBRARY=... / -DORT_INCLUDE_DIR=... (cmake-js: --CDORT_LIBRARY=...).
set(_ortex_nm "${CMAKE_CURRENT_SOURCE_DIR}/node_modules")

if(NOT ORT_LIBRARY)
  set(ORT_LIBRARY "${_ortex_nm}/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1")
endif()
if(NOT ORT_INCLUDE_DIR)
  set(ORT_INCLUDE_DIR "${_ortex_nm}/com.github.asus4.onnxruntime/Plugins/iOS~/onnxruntime.xcframework/ios-arm64_x86_64-simulator/onnxruntime.framework/Headers")
endif()

if(NOT EXISTS "${ORT_LIBRARY}")
  message(FATAL_ERROR
    "ortex: ONNX Runtime library not found at\n  ${ORT_LIBRARY}\n"
    "Possible causes:\n"
    "  - the npm dependency onnxruntime-node@1.30.0 is not installed (run `npm ci`)\n"
    "  - this platform is not linux-x64 (ortex ships builds for linux-x64 only)\n"
    "  - pass another library with --CDORT_LIBRARY=/path/to/libonnxruntime.so.1")
endif()
if(NOT EXISTS "${ORT_INCLUDE_DIR}/onnxruntime_c_api.h")
  message(FATAL_ERROR
    "ortex: ONNX Runtime C headers not found in\n  ${ORT_INCLUDE_DIR}\n"
    "Possible causes:\n"
    "  - the npm dependency com.github.asus4.onnxruntime@0.4.9 is not installed (run `npm ci`)\n"
    "  - pass another header folder with --CDORT_INCLUDE_DIR=/path/to/include")
endif()

file(STRINGS "${ORT_INCLUDE_DIR}/onnxruntime_c_api.h" _ortex_api_line REGEX "^#define ORT_API_VERSION [0-9]+")
string(REGEX REPLACE ".* ([0-9]+)$" "\\1" ORT_API_VERSION_FROM_HEADER "${_ortex_api_line}")
message(STATUS "ortex: ONNX Runtime headers API ${ORT_API_VERSION_FROM_HEADER} from ${ORT_INCLUDE_DIR}")
message(STATUS "ortex: ONNX Runtime library ${ORT_LIBRARY}")
