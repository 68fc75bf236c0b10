# cmake -DWARREN=path/to/warren -DOUT=config.toml -P gen-config.cmake
# The packaged /etc/warren/config.toml: warren's own defaults, except that the
# socket belongs to the `warren` group the package's postinst creates, so its
# members use warren without root.
execute_process(COMMAND ${WARREN} default-config OUTPUT_VARIABLE toml RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${WARREN} default-config failed (${rc})")
endif()
string(FIND "${toml}" "\nsocket_group = \"\"\n" at)
if(at EQUAL -1)
  message(FATAL_ERROR "default-config has no `socket_group = \"\"` line to set")
endif()
string(REPLACE "\nsocket_group = \"\"\n" "\nsocket_group = \"warren\"\n" toml "${toml}")
file(WRITE ${OUT} "${toml}")
