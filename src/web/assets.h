#pragma once

#include <string_view>

namespace warren::web {

// One file of web/ embedded into the binary at build time (embed_assets.cc
// writes the table; the daemon needs no files at run time). Immutable static
// data: safe to read from any thread.
struct Asset {
  std::string_view path;          // relative to web/, e.g. "index.html", "vendor/xterm.js"
  std::string_view content_type;  // from the extension
  std::string_view etag;          // quoted strong ETag: the first 16 hex digits of sha256(data)
  std::string_view data;          // the file's bytes
  std::string_view gzip;          // the same, gzip'ed
};

// nullptr when web/ had no such file.
const Asset* FindAsset(std::string_view path);

}  // namespace warren::web
