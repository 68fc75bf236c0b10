# Networking benchmarks; included from bench/CMakeLists.txt. Needs root to run
# (it makes its own network namespace).
find_package(benchmark REQUIRED)
add_executable(tap_pool_bench ${CMAKE_CURRENT_LIST_DIR}/net_tap_pool_bench.cc)
target_link_libraries(tap_pool_bench PRIVATE warren_net benchmark::benchmark)
