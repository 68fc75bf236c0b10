// rpc_gen: builds the daemon's real method table (on empty services: no
// handler runs) and writes what clients need from it, so no one retypes a
// method or a field: docs/RPC.md (the reference) and web/gen/rpc.js (the web
// UI's client). `rpc_gen OUT_DIR` writes OUT_DIR/docs/RPC.md and
// OUT_DIR/web/gen/rpc.js; it refuses a table with an undocumented method.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "config/config.h"
#include "rpc/dispatcher.h"
#include "rpc/services.h"
#include "tools/rpc_gen_render.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: rpc_gen OUT_DIR  (writes OUT_DIR/docs/RPC.md, OUT_DIR/web/gen/rpc.js)\n";
    return 2;
  }
  warren::Config config;
  warren::rpc::Services services;
  services.config = &config;
  warren::rpc::Dispatcher table(warren::rpc::AllMethods(services));
  const nlohmann::json methods = table.Describe()["methods"];
  std::string missing;
  for (const auto& m : methods) {
    if (m.value("summary", "").empty()) missing += " " + m["name"].get<std::string>();
  }
  if (!missing.empty()) {
    std::cerr << "rpc_gen: undocumented methods (give their Method<> row a MethodDoc):" << missing
              << "\n";
    return 1;
  }
  const std::filesystem::path out(argv[1]);
  const std::pair<std::filesystem::path, std::string> files[] = {
      {out / "docs" / "RPC.md", warren::tools::RenderMarkdown(methods)},
      {out / "web" / "gen" / "rpc.js", warren::tools::RenderJs(methods)},
  };
  for (const auto& [path, text] : files) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream f(path, std::ios::trunc);
    f << text;
    if (!f.flush()) {
      std::cerr << "rpc_gen: cannot write " << path << "\n";
      return 1;
    }
  }
  return 0;
}
