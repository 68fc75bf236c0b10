# DNS query path fuzzer; fuzz/CMakeLists.txt includes every *_fuzz.cmake. The resolver is compiled
# into the target (not linked from warren_dns) so it carries coverage instrumentation.
add_executable(dns_query_fuzz
  ${CMAKE_CURRENT_LIST_DIR}/dns_query_fuzz.cc
  ${CMAKE_SOURCE_DIR}/src/dns/records.cc
  ${CMAKE_SOURCE_DIR}/src/dns/resolver.cc
  ${CMAKE_SOURCE_DIR}/src/net/ip_alloc.cc
  ${CMAKE_SOURCE_DIR}/src/net/mac.cc
)
target_compile_options(dns_query_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_options(dns_query_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_libraries(dns_query_fuzz PRIVATE warren_base PkgConfig::LDNS)
