# Locates the ONNX Runtime library and C headers that npm installed:
#   ORT_LIBRARY      libonnxruntime.so.1 from onnxruntime-node (the binary onnxruntime-node itself uses)
#   ORT_INCLUDE_DIR  Microsoft's official C headers from com.github.asus4.onnxruntime
# Either can be overridden with -DORT_LIBRARY=... / -DORT_INCLUDE_DIR=... (cmake-js: --CDORT_LIBRARY=...).
# A package's folder as Node would find it from here: in ./node_modules, or hoisted into a
# parent's node_modules when ortex is itself a dependency.
function(ortex_find_package name out)
  execute_process(
    COMMAND node -e "const p=require('path'),fs=require('fs');for(const d of require.resolve.paths('x')){const c=p.join(d,process.argv[1]);if(fs.existsSync(c)){console.log(c);process.exit(0)}}process.exit(1)" ${name}
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
    OUTPUT_VARIABLE _dir OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    set(_dir "${CMAKE_CURRENT_SOURCE_DIR}/node_modules/${name}")
  endif()
  set(${out} "${_dir}" PARENT_SCOPE)
endfunction()

if(NOT ORT_LIBRARY)
  ortex_find_package(onnxruntime-node _ortex_ort_node)
  set(ORT_LIBRARY "${_ortex_ort_node}/bin/napi-v6/linux/x64/libonnxruntime.so.1")
endif()
if(NOT ORT_INCLUDE_DIR)
  ortex_find_package(com.github.asus4.onnxruntime _ortex_ort_headers)
  set(ORT_INCLUDE_DIR "${_ortex_ort_headers}/Plugins/iOS~/onnxruntime.xcframework/ios-arm64_x86_64-simulator/onnxruntime.framework/Headers")
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
