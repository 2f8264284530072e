# -DORTEX_SANITIZE=ON (cmake-js: --CDORTEX_SANITIZE=ON) builds with AddressSanitizer and
# UndefinedBehaviorSanitizer. Node is not instrumented, so run it with the ASan runtime
# preloaded: LD_PRELOAD=$(g++ -print-file-name=libasan.so).
# -fno-sanitize-recover=all: a UBSan finding aborts the process, so it fails the test that
# hit it instead of printing a line nobody reads. -O1 (after the build type's -O3, so it wins):
# the usual level for sanitizer builds, stacks close to the source, and a third less build
# time (about 67 s instead of 105 s on 2 vCPUs).
option(ORTEX_SANITIZE "Build the addon with ASan + UBSan" OFF)
function(ortex_sanitizers target)
  if(ORTEX_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-sanitize-recover=all
      -fno-omit-frame-pointer -g -O1)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
