# DNS query path fuzzer; fuzz/CMakeLists.txt includes every *_fuzz.cmake.
warren_fuzz_target(dns_query_fuzz
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/dns_query_fuzz.cc
          ${CMAKE_SOURCE_DIR}/src/dns/records.cc
          ${CMAKE_SOURCE_DIR}/src/dns/resolver.cc
          ${CMAKE_SOURCE_DIR}/src/net/ip_alloc.cc
          ${CMAKE_SOURCE_DIR}/src/net/mac.cc
  LIBS PkgConfig::LDNS)
