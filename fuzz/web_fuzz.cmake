# The web server's input paths (src/web): HTTP requests and WebSocket frames.
find_package(Boost 1.74 REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
set(web_fuzz_libs warren_web_assets warren_metrics_core Boost::boost OpenSSL::Crypto nlohmann_json::nlohmann_json
    spdlog::spdlog Threads::Threads)
warren_fuzz_target(web_http_fuzz
  SOURCES web_http_fuzz.cc ${CMAKE_SOURCE_DIR}/src/web/router.cc
          ${CMAKE_SOURCE_DIR}/src/web/auth.cc ${CMAKE_SOURCE_DIR}/src/web/metrics_route.cc
  LIBS ${web_fuzz_libs})
warren_fuzz_target(web_ws_fuzz
  SOURCES web_ws_fuzz.cc ${CMAKE_SOURCE_DIR}/src/web/connection.cc
          ${CMAKE_SOURCE_DIR}/src/web/router.cc ${CMAKE_SOURCE_DIR}/src/web/auth.cc
          ${CMAKE_SOURCE_DIR}/src/web/metrics_route.cc ${WARREN_FUZZ_RPC_CONNECTION_SOURCES}
  LIBS ${web_fuzz_libs})
foreach(t web_http_fuzz web_ws_fuzz)
  target_compile_definitions(${t} PRIVATE BOOST_BEAST_USE_STD_STRING_VIEW)
endforeach()
