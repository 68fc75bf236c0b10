// Round-trip latency of a trivial `ping` over the real unix socket, plus the
// pure framing/parsing cost for comparison.
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <thread>

#include "rpc/client.h"
#include "rpc/dispatcher.h"
#include "rpc/frame.h"
#include "rpc/jsonrpc.h"
#include "rpc/server.h"

namespace warren::rpc {
namespace {

using nlohmann::json;

// One server for the whole run, in a private temp directory.
class PingServer {
 public:
  PingServer() {
    char tmpl[] = "/tmp/wrpcb-XXXXXX";
    CHECK(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    std::vector<MethodRow> rows;
    rows.push_back({"ping", Mutation::kReadOnly,
                    [](const json&, CallContext&) -> Result<json> { return json("pong"); }});
    dispatcher_ = std::make_unique<Dispatcher>(std::move(rows));
    ServerOptions options;
    options.socket = dir_ / "bench.sock";
    options.max_connections = 128;
    auto server = Server::Listen(options, dispatcher_.get());
    CHECK(server.ok());
    server_ = std::move(*server);
    thread_ = std::thread([this] { server_->Serve(); });
  }
  ~PingServer() {
    server_->Shutdown();
    thread_.join();
    std::filesystem::remove_all(dir_);
  }
  const std::filesystem::path socket() const { return dir_ / "bench.sock"; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

PingServer& Shared() {
  static PingServer server;  // shut down and removed at exit
  return server;
}

void BM_PingRoundTrip(benchmark::State& state) {
  auto client = Client::Connect(Shared().socket());
  CHECK(client.ok());
  for (auto _ : state) {
    auto r = (*client)->Call("ping", json::object());
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PingRoundTrip)->UseRealTime();
BENCHMARK(BM_PingRoundTrip)->UseRealTime()->Threads(8);

void BM_ConnectAndPing(benchmark::State& state) {
  for (auto _ : state) {
    auto client = Client::Connect(Shared().socket());
    CHECK(client.ok());
    benchmark::DoNotOptimize((*client)->Call("ping", json::object()));
  }
}
BENCHMARK(BM_ConnectAndPing)->UseRealTime();

void BM_EncodeDecodeParse(benchmark::State& state) {
  const std::string frame = EncodeJsonFrame(MakeRequest(1, "ping", json::object()));
  FrameDecoder decoder;
  for (auto _ : state) {
    decoder.Feed(frame);
    auto next = decoder.Next();
    benchmark::DoNotOptimize(ParseRequest((*next)->payload));
  }
}
BENCHMARK(BM_EncodeDecodeParse);

}  // namespace
}  // namespace warren::rpc

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
