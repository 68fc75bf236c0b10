# web_bench: the dashboard with 100 VMs and 20 running ops on a daemon over
# fakes (web_fake_daemon: real RPC, events and web listener; fake machine),
# then a real daemon and guest for the terminal's keystroke echo and RSS with
# 20 dashboards. Driven by bench/web_bench.sh; the browser side is
# bench/web_bench.mjs (Debian's chromium, playwright-core).
if(TARGET warren_daemon)
  add_executable(web_fake_daemon ${CMAKE_CURRENT_LIST_DIR}/web_fake_daemon.cc)
  target_include_directories(web_fake_daemon PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(web_fake_daemon PRIVATE warren_daemon)
endif()
