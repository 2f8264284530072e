# Node-API and node-addon-api include folders, with no header download: cmake-js
# supplies node-api-headers through CMAKE_JS_INC; node-addon-api is a plain npm package.
execute_process(COMMAND node -p "require('node-addon-api').include_dir"
  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
  OUTPUT_VARIABLE _ortex_naa OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _ortex_naa_rc)
if(NOT _ortex_naa_rc EQUAL 0 OR NOT EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/${_ortex_naa}/napi.h")
  message(FATAL_ERROR "ortex: node-addon-api is not installed (run `npm ci`).")
endif()
set(ORTEX_NODE_INCLUDES ${CMAKE_JS_INC} "${CMAKE_CURRENT_SOURCE_DIR}/${_ortex_naa}")
