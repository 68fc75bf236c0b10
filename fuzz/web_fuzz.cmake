# The web server's input paths (src/web): HTTP requests and WebSocket frames.
# Like rpc_*_fuzz, the code under test is compiled in for coverage.
find_package(Boost 1.74 REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
add_executable(web_http_fuzz
  web_http_fuzz.cc
  ${CMAKE_SOURCE_DIR}/src/web/router.cc
  ${CMAKE_SOURCE_DIR}/src/web/auth.cc
)
add_executable(web_ws_fuzz
  web_ws_fuzz.cc
  ${CMAKE_SOURCE_DIR}/src/web/connection.cc
  ${CMAKE_SOURCE_DIR}/src/web/router.cc
  ${CMAKE_SOURCE_DIR}/src/web/auth.cc
  ${CMAKE_SOURCE_DIR}/src/rpc/connection.cc
  ${CMAKE_SOURCE_DIR}/src/rpc/dispatcher.cc
  ${CMAKE_SOURCE_DIR}/src/rpc/params.cc
  ${CMAKE_SOURCE_DIR}/src/rpc/stream_control.cc
  ${CMAKE_SOURCE_DIR}/src/rpc/frame.cc
  ${CMAKE_SOURCE_DIR}/src/rpc/jsonrpc.cc
  ${CMAKE_SOURCE_DIR}/src/rpc/errors.cc
)
foreach(t web_http_fuzz web_ws_fuzz)
  target_compile_options(${t} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(${t} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_compile_definitions(${t} PRIVATE BOOST_BEAST_USE_STD_STRING_VIEW)
  target_link_libraries(${t} PRIVATE warren_web_assets warren_base Boost::boost OpenSSL::Crypto
    nlohmann_json::nlohmann_json spdlog::spdlog Threads::Threads)
endforeach()
