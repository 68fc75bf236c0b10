# vm_bench: create→ready through a real daemon vs raw QEMU booting the same
# kernel, initrd and overlay with the same argv, interleaved in one run; and 5
# concurrent creates vs 5 sequential ones. Needs root, QEMU, genisoimage and
# the default image (built through the daemon; cached in $WARREN_TEST_CACHE).
# warren_e2e_daemon (tests/e2e) starts and stops the daemon.
if(TARGET warren_e2e_daemon)
  add_executable(vm_bench ${CMAKE_CURRENT_LIST_DIR}/vm_bench.cc)
  target_link_libraries(vm_bench PRIVATE warren_e2e_daemon warren_qemu warren_image warren_net)
endif()
