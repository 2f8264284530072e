# -DORTEX_SANITIZE=ON (cmake-js: --CDORTEX_SANITIZE=ON) builds with AddressSanitizer and
# UndefinedBehaviorSanitizer. Node is not instrumented, so run it with the ASan runtime
# preloaded: LD_PRELOAD=$(g++ -print-file-name=libasan.so).
option(ORTEX_SANITIZE "Build the addon with ASan + UBSan" OFF)
function(ortex_sanitizers target)
  if(ORTEX_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer -g)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
