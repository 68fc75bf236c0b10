# containerd's ttrpc framing and its Request/Response messages (src/shim/).
warren_fuzz_target(ttrpc_frame_fuzz
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/ttrpc_frame_fuzz.cc ${CMAKE_SOURCE_DIR}/src/shim/ttrpc.cc)
