# The published-port relay against a direct connection, side by side. Needs
# root (it makes its own network namespaces); see docs/BENCHMARKS.md.
add_executable(publish_bench ${CMAKE_CURRENT_LIST_DIR}/publish_bench.cc)
target_include_directories(publish_bench PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(publish_bench PRIVATE warren_net)
