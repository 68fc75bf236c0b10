# The host end of the guest agent protocol reads lines a guest wrote: a guest
# is not trusted, so its replies are fuzzed.
warren_fuzz_target(agent_reply_fuzz
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/agent_reply_fuzz.cc
          ${CMAKE_SOURCE_DIR}/src/vm/guest_agent.cc
  LIBS warren_image warren_net)
