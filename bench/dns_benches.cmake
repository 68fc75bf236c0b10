# DNS: bench/dns_bench.sh runs the real daemon (src/warren) against dnsmasq; this times the
# answer path alone (no sockets).
find_package(benchmark REQUIRED)
add_executable(dns_answer_bench ${CMAKE_CURRENT_LIST_DIR}/dns_answer_bench.cc)
target_link_libraries(dns_answer_bench PRIVATE warren_dns benchmark::benchmark)
