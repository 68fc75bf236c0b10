#pragma once

#include <string_view>
#include <utility>

namespace warren::rpc {

// What a client needs to draw everything at once: {result field, list method}.
// events.subscribe's `snapshot` answers with these (methods_daemon.cc), and
// the web UI's page is served with them (web/server.cc).
inline constexpr std::pair<std::string_view, std::string_view> kSnapshotLists[] = {
    {"vms", "vm.list"}, {"images", "image.list"}, {"ops", "op.list"}, {"sessions", "session.ls"}};

}  // namespace warren::rpc
