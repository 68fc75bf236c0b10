// GET /metrics from a whole Daemon on fakes: promtool accepts the text, and
// the values move when things happen (an RPC call, an op, a VM, a DNS query).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "daemon/daemon.h"
#include "fakes/fake_daemon_deps.h"
#include "rpc/client.h"
#include "sys/runner.h"
#include "sys/unique_fd.h"
#include "web/web_test_util.h"

namespace warren {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using web::testing::HttpClient;

// The value of the sample `series` (name and labels exactly as printed), or
// -1 when the text has no such line.
double Sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

// A DNS query for `name` type A (RFC 1035 §4.1), id 0x5157.
std::string DnsQuery(const std::string& name) {
  std::string q = {'\x51', '\x57', '\x01', '\x00', 0, 1, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = std::min(name.find('.', start), name.size());
    q.push_back(static_cast<char>(dot - start));
    q += name.substr(start, dot - start);
    start = dot + 1;
  }
  q += std::string("\0\0\1\0\1", 5);
  return q;
}

class MetricsDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/warren-metrics-daemon-XXXXXX";
    layout_ = Layout::ForRoot(mkdtemp(tmpl));
    ASSERT_TRUE(layout_.Ensure().ok());
    std::ofstream(layout_.config_file)
        << "[dns]\nhost_listen = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n";
    FakeDaemonDeps fakes;
    hypervisor_ = fakes.hypervisor;
    Result<std::unique_ptr<Daemon>> d = Daemon::Open(layout_, std::move(fakes.deps));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    daemon_ = std::move(*d);
    serve_ = std::thread([this] { (void)daemon_->Serve(); });
    Result<std::unique_ptr<rpc::Client>> c = rpc::Client::Connect(layout_.socket);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(*c);
    Result<json> info = Call("web.info");
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    const std::string listen = (*info)["listen"];
    port_ = static_cast<uint16_t>(std::stoi(listen.substr(listen.rfind(':') + 1)));
    const std::string url = (*info)["url"];
    token_ = url.substr(url.find("token=") + 6);
  }
  void TearDown() override {
    client_.reset();
    if (daemon_) {
      EXPECT_TRUE(daemon_->Close().ok());
    }
    if (serve_.joinable()) serve_.join();
    daemon_.reset();
    fs::remove_all(layout_.root);
  }

  Result<json> Call(std::string_view method, json params = json::object()) {
    return client_->Call(method, params);
  }
  Result<json> CallAndWait(std::string_view method, json params) {
    ASSIGN_OR_RETURN(json started, Call(method, std::move(params)));
    return Call("op.wait", {{"id", started["op"]}});
  }

  // GET /metrics with `authorization`; the status and body ("" on no answer).
  std::pair<int, std::string> Get(const std::string& authorization) {
    HttpClient http(port_);
    web::HttpRequest req = web::testing::Get("/metrics", port_);
    if (!authorization.empty()) req.set(web::http::field::authorization, authorization);
    std::optional<web::HttpResponse> r = http.Send(std::move(req));
    if (!r) return {0, ""};
    return {static_cast<int>(r->result_int()), r->body()};
  }
  std::string Scrape() {
    auto [status, body] = Get("Bearer " + token_);
    EXPECT_EQ(status, 200) << body;
    return body;
  }

  Layout layout_;
  FakeHypervisor* hypervisor_ = nullptr;
  std::unique_ptr<Daemon> daemon_;
  std::thread serve_;
  std::unique_ptr<rpc::Client> client_;
  uint16_t port_ = 0;
  std::string token_;
};

TEST_F(MetricsDaemonTest, PromtoolAcceptsTheScrape) {
  ASSERT_TRUE(Call("vm.list").ok());  // so that RPC series exist
  const std::string text = Scrape();
  RunSpec spec;
  spec.argv = {WARREN_PROMTOOL, "check", "metrics"};
  spec.stdin_data = text;
  spec.timeout = std::chrono::seconds(60);
  Result<RunResult> r = RealRunner().Run(spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0) << r->out << r->err << "\n---\n" << text;
  EXPECT_EQ(r->out + r->err, "") << text;  // no lint complaint either
}

TEST_F(MetricsDaemonTest, NeedsTheWebTokenAndNeverShowsIt) {
  EXPECT_EQ(Get("").first, 401);
  EXPECT_EQ(Get("Bearer " + std::string(64, '0')).first, 401);
  auto [status, body] = Get("Bearer " + token_);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body.find(token_), std::string::npos);
}

TEST_F(MetricsDaemonTest, ValuesMoveWhenThingsHappen) {
  const std::string before = Scrape();
  const std::string ls_ok = "warren_rpc_requests_total{method=\"vm.list\",result=\"ok\"}";
  const double ls_before = std::max(0.0, Sample(before, ls_ok));
  ASSERT_TRUE(Call("vm.list").ok());
  ASSERT_TRUE(Call("vm.list").ok());
  EXPECT_FALSE(Call("vm.inspect", {{"name", "nosuch"}}).ok());
  EXPECT_FALSE(Call("no.such.method").ok());

  // A built image and a running VM (fake QEMU: 2.5 CPU seconds, 128 MiB).
  Result<json> built = CallAndWait("image.build", {{"name", "base"}});
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  ASSERT_EQ((*built)["state"], "succeeded") << built->dump();
  Result<json> created = CallAndWait("vm.create", {{"name", "web"}, {"image", "base"}});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ASSERT_EQ((*created)["state"], "succeeded") << created->dump();

  // A DNS query to the host listener for a name that does not exist.
  Result<json> status = Call("daemon.status");
  ASSERT_TRUE(status.ok());
  const std::string dns_listen = (*status)["network"]["dns_host_listen"];
  const std::string domain = (*status)["network"]["dns_domain"];
  ASSERT_FALSE(dns_listen.empty()) << status->dump();
  UniqueFd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(std::stoi(dns_listen.substr(dns_listen.rfind(':') + 1))));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};  // the deadline for the answer
  ASSERT_EQ(::setsockopt(udp.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
  const std::string query = DnsQuery("nosuch." + domain);
  ASSERT_EQ(::sendto(udp.get(), query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof(to)),
            static_cast<ssize_t>(query.size()));
  char reply[512];
  ASSERT_GT(::recv(udp.get(), reply, sizeof(reply), 0), 3) << "no DNS answer within 10 s";
  EXPECT_EQ(reply[3] & 0x0f, 3);  // NXDOMAIN

  const std::string after = Scrape();
  EXPECT_EQ(Sample(after, ls_ok), ls_before + 2) << after;
  EXPECT_EQ(Sample(after, "warren_rpc_requests_total{method=\"vm.inspect\",result=\"not_found\"}"),
            1)
      << after;
  EXPECT_EQ(Sample(after, "warren_rpc_request_duration_seconds_count{method=\"vm.list\"}"),
            ls_before + 2);
  EXPECT_EQ(Sample(after, "warren_rpc_unknown_method_requests_total"), 1);
  EXPECT_EQ(Sample(after, "warren_ops_total{kind=\"vm.create\",result=\"succeeded\"}"), 1) << after;
  EXPECT_EQ(Sample(after, "warren_ops_total{kind=\"image.build\",result=\"succeeded\"}"), 1)
      << after;
  EXPECT_EQ(Sample(after, "warren_vms{state=\"running\"}"), 1);
  EXPECT_EQ(Sample(after, "warren_vms{state=\"stopped\"}"), 0);
  EXPECT_EQ(Sample(after, "warren_vm_cpu_seconds_total{vm=\"web\"}"),
            FakeDaemonDeps::kFakeCpuSeconds);
  EXPECT_EQ(Sample(after, "warren_vm_resident_memory_bytes{vm=\"web\"}"),
            static_cast<double>(FakeDaemonDeps::kFakeRssBytes));
  EXPECT_EQ(Sample(after, "warren_dns_queries_total{listener=\"host\",outcome=\"nxdomain\"}"),
            1)
      << after;
  EXPECT_EQ(Sample(after, "warren_tap_pool_takes_total{kind=\"warm\"}") +
                Sample(after, "warren_tap_pool_takes_total{kind=\"cold\"}"),
            1)
      << after;
  EXPECT_EQ(Sample(after, "warren_sessions{state=\"running\"}"), 0);

  // A stopped VM has no QEMU, so no usage series.
  ASSERT_TRUE(Call("vm.stop", {{"name", "web"}, {"force", true}}).ok());
  const std::string stopped = Scrape();
  EXPECT_EQ(Sample(stopped, "warren_vms{state=\"stopped\"}"), 1);
  EXPECT_EQ(Sample(stopped, "warren_vm_cpu_seconds_total{vm=\"web\"}"), -1) << stopped;
}

}  // namespace
}  // namespace warren
