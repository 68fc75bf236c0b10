# image_bench: default image build time (cold and cached) and boot-to-SSH
# under TCG, minimal vs systemd flavour, side by side. Needs root, QEMU,
# mmdebstrap and the host's Debian mirror; see docs/IMAGES.md.
add_executable(image_bench ${CMAKE_CURRENT_SOURCE_DIR}/image_bench.cc)
target_link_libraries(image_bench PRIVATE warren_image warren_e2e_image_boot)
