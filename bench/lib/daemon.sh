# Sourced by the bench scripts that run their own daemon under a temp root.
#
#   bench_daemon WARREN_BINARY NAME   makes $root (/tmp/warren-NAME-bench-*) and
#                                     $W (the CLI on it), starts the daemon in
#                                     the background ($daemon_pid) and waits for
#                                     its socket. At exit the VM `bench`, the
#                                     daemon and $root are removed, after the
#                                     script's own bench_cleanup_extra if any.
# With $WARREN_TEST_CACHE set, images come from that cache.

bench_cleanup() {
  if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra || true; fi
  "${W[@]}" vm rm bench --force >/dev/null 2>&1 || true
  [ -n "${daemon_pid:-}" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  rm -rf "$root"
}

bench_daemon() {
  root=$(mktemp -d "/tmp/warren-$2-bench-XXXXXX")
  W=("$1" --root "$root")
  trap bench_cleanup EXIT
  if [ -n "${WARREN_TEST_CACHE:-}" ]; then
    printf '[images]\ncache_dir = "%s"\n' "$(realpath "$WARREN_TEST_CACHE")" > "$root/config.toml"
  fi
  "${W[@]}" daemon 2>"$root/daemon.log" &
  daemon_pid=$!
  for _ in $(seq 100); do [ -S "$root/run/warren.sock" ] && break; sleep 0.1; done
  [ -S "$root/run/warren.sock" ] || { echo "the daemon did not start:" >&2; cat "$root/daemon.log" >&2; exit 1; }
}
