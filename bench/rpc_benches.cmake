# rpc_soak: concurrent clients with hostile input against a running daemon
# (bench/rpc_soak.sh starts one in a private network namespace).
add_executable(rpc_soak ${CMAKE_CURRENT_LIST_DIR}/rpc_soak.cc)
target_link_libraries(rpc_soak PRIVATE warren_rpc warren_sys)
