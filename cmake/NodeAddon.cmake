# Node-API and node-addon-api include folders, with no header download: cmake-js
# supplies node-api-headers through CMAKE_JS_INC; node-addon-api is a plain npm package.
execute_process(COMMAND node -p "require('node-addon-api').include_dir"
  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
  OUTPUT_VARIABLE _ortex_naa OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _ortex_naa_rc)
if(NOT _ortex_naa_rc EQUAL 0 OR NOT EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/${_ortex_naa}/napi.h")
  message(FATAL_ERROR "ortex: node-addon-api is not installed (run `npm ci`).")
endif()
set(ORTEX_NODE_INCLUDES ${CMAKE_JS_INC} "${CMAKE_CURRENT_SOURCE_DIR}/${_ortex_naa}")

# libuv's header, from the headers of the Node that builds the addon (<prefix>/include/node,
# which Node's release tarballs and Debian's nodejs package both ship). The run executor
# wakes the event loop with its own uv_async_t (native/run_executor.h says why); the
# symbols themselves are the node binary's, resolved when the addon loads.
execute_process(COMMAND node -p "require('path').resolve(process.execPath, '../../include/node')"
  OUTPUT_VARIABLE _ortex_node_inc OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _ortex_node_inc_rc)
if(NOT _ortex_node_inc_rc EQUAL 0 OR NOT EXISTS "${_ortex_node_inc}/uv.h")
  message(FATAL_ERROR "ortex: libuv's header uv.h was not found in ${_ortex_node_inc}, the headers of "
    "the Node running the build. Install Node with its headers (Node's release tarball, or Debian's "
    "nodejs package), or point PATH at such a Node.")
endif()
set(ORTEX_UV_INCLUDE "${_ortex_node_inc}")
