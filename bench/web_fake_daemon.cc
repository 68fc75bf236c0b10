// A whole warren daemon on fakes (tests/fakes: no namespace, TAP or QEMU)
// loaded with --vms VMs and --ops running operations, for bench/web_bench.sh
// to measure the dashboard against. Its web listener and socket are the real
// ones; only the machine underneath is fake.
//
//   web_fake_daemon ROOT [VMS=100] [RUNNING_OPS=20]
//
// Prints "ready" on stdout once loaded, then serves until stdin closes.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "daemon/daemon.h"
#include "fakes/fake_daemon_deps.h"
#include "rpc/client.h"

namespace warren {
namespace {

using json = nlohmann::json;

Result<json> CallAndWait(rpc::Client& c, std::string_view method, const json& params) {
  ASSIGN_OR_RETURN(json started, c.Call(method, params));
  return c.Call("op.wait", {{"id", started["op"]}});
}

int Run(const std::string& root, int vms, int running_ops) {
  Layout layout = Layout::ForRoot(root);
  if (Status st = layout.Ensure(); !st.ok()) {
    std::cerr << st.ToString() << "\n";
    return 1;
  }
  std::ofstream(layout.config_file) << "[dns]\nhost_listen = \"127.0.0.1:0\"\n"
                                    << "[web]\nlisten = \"127.0.0.1:0\"\n";
  auto fakes = std::make_unique<FakeDaemonDeps>();
  FakeImageBuilder* builder = fakes->image_builder;
  Result<std::unique_ptr<Daemon>> d = Daemon::Open(layout, std::move(fakes->deps));
  if (!d.ok()) {
    std::cerr << d.status().ToString() << "\n";
    return 1;
  }
  std::thread serve([&] { (void)(*d)->Serve(); });
  int rc = 0;
  {
    Result<std::unique_ptr<rpc::Client>> c = rpc::Client::Connect(layout.socket);
    Status st = c.ok() ? CallAndWait(**c, "image.build", {{"name", "base"}}).status() : c.status();
    for (int i = 0; st.ok() && i < vms; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "vm-%03d", i);
      st = CallAndWait(**c, "vm.create", {{"name", name}, {"image", "base"}}).status();
    }
    builder->block = true;  // these builds stay running: the "running ops"
    for (int i = 0; st.ok() && i < running_ops; ++i) {
      st = (*c)->Call("image.build", {{"name", "img-" + std::to_string(i)}}).status();
    }
    if (!st.ok()) {
      std::cerr << st.ToString() << "\n";
      rc = 1;
    } else {
      std::cout << "ready" << std::endl;
      std::string line;
      while (std::getline(std::cin, line)) {
      }
    }
  }
  builder->Release();
  (void)(*d)->Close();
  serve.join();
  return rc;
}

}  // namespace
}  // namespace warren

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: web_fake_daemon ROOT [VMS] [RUNNING_OPS]\n";
    return 2;
  }
  return warren::Run(argv[1], argc > 2 ? std::stoi(argv[2]) : 100, argc > 3 ? std::stoi(argv[3]) : 20);
}
