#pragma once

#include <filesystem>
#include <string>

#include "base/status.h"

namespace warren {

// Where the daemon keeps everything. A plain value: computed once at start
// (Resolve), then read-only and safe to share between threads.
struct Layout {
  // Everything under `root`: root/config.toml, root/state/warren.db, root/run/warren.sock,
  // root/run/warren.pid, root/log/warrend.log, root/images/, root/vms/, root/cache/. A relative
  // root is made absolute so paths stay valid if the daemon changes directory.
  static Layout ForRoot(const std::filesystem::path& root);
  // System layout: /etc/warren/config.toml, /var/lib/warren/{warren.db,images,vms,cache},
  // /run/warren/{warren.sock,warren.pid}, /var/log/warren/warrend.log.
  static Layout System();
  // The --root flag value if non-empty, else the WARREN_ROOT environment variable if non-empty,
  // else System().
  static Layout Resolve(const std::string& root_flag);

  // Human-readable name of this layout for messages: the root, or "the system layout".
  std::string Describe() const;

  std::filesystem::path root;  // empty for the system layout
  std::filesystem::path config_file, state_dir, db_file, run_dir, socket, pid_file, log_dir,
      log_file, images_dir, vms_dir, cache_dir;

  // Creates the directories (0755; run_dir 0755, state 0700 — it holds the database — enforced
  // even when it already exists). Does not create the config file's directory. Errors name the
  // path and errno text; InvalidArgument when the socket path is too long for a unix socket.
  Status Ensure() const;
};

}  // namespace warren
