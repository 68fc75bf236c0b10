#!/usr/bin/env bash
# Writes warren.1 from the CLI's own help: help2man turns `warren --help` and
# `--version` into the page, and every command's `--help` (nested ones too,
# found through each help's "Subcommands:" list) becomes a COMMANDS section, so
# the page documents exactly what the binary accepts.
# Usage: gen-man.sh WARREN OUT.1
set -euo pipefail
warren=$1 out=$2
inc=$(mktemp)
trap 'rm -f "$inc"' EXIT

subcommands() {  # the words listed under "Subcommands:" in `warren ARGS --help`
  timeout 10 "$warren" "$@" --help | awk '/^Subcommands:/ {on=1; next} on && /^[^ ]/ {on=0} on && /^  [^ ]/ {print $1}'
}
escape() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
section() {  # one .SS per command path, then its children
  printf '.SS "warren %s"\n.nf\n' "$*"
  timeout 10 "$warren" "$@" --help | escape
  printf '.fi\n'
  local sub
  for sub in $(subcommands "$@"); do
    section "$@" "$sub"
  done
}

{
  echo '[COMMANDS]'
  for cmd in $(subcommands); do
    case $cmd in __*) continue ;; esac  # hidden helpers of the completion scripts
    section "$cmd"
  done
  cat <<'FILES'
[FILES]
.TP
.I /etc/warren/config.toml
The daemon's configuration (print the defaults with \fBwarren default-config\fR).
.TP
.I /var/lib/warren
Store, images, VM disks and the daemon's SSH key.
.TP
.I /run/warren/warren.sock
The RPC socket; members of the \fBwarren\fR group may use it.
.TP
.I /var/log/warren/warrend.log
The daemon's log.
FILES
} >"$inc"

help2man --no-info --no-discard-stderr --section=1 \
  --name="throwaway Linux microVMs in seconds" \
  --version-string="$("$warren" --version)" \
  --include="$inc" --output="$out" "$warren"
