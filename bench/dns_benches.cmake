# DNS: a standalone server for bench/dns_bench.sh (dnsperf against warren and dnsmasq).
add_executable(dns_serve ${CMAKE_CURRENT_LIST_DIR}/dns_serve.cc)
target_link_libraries(dns_serve PRIVATE warren_dns)

# The answer path alone (no sockets): where dns_serve's time goes.
find_package(benchmark REQUIRED)
add_executable(dns_answer_bench ${CMAKE_CURRENT_LIST_DIR}/dns_answer_bench.cc)
target_link_libraries(dns_answer_bench PRIVATE warren_dns benchmark::benchmark)
