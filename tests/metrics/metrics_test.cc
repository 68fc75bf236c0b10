// src/metrics/: the lock-free histogram, the /proc parsers and the text
// exposition (whose format promtool checks in metrics_daemon_test).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "metrics/exposition.h"
#include "metrics/histogram.h"
#include "metrics/process_usage.h"

namespace warren::metrics {
namespace {

using ::testing::HasSubstr;

TEST(HistogramTest, BucketsAreUpperInclusiveAndTheRestGoesToInf) {
  constexpr double kBounds[] = {1, 2, 5};
  Histogram h(kBounds);
  for (double v : {0.5, 1.0, 1.5, 2.0, 4.0, 7.0}) h.Observe(v);
  HistogramData d = h.Snapshot();
  EXPECT_EQ(d.counts, (std::vector<uint64_t>{2, 2, 1, 1}));
  EXPECT_EQ(d.count(), 6u);
  EXPECT_DOUBLE_EQ(d.sum, 16.0);
}

TEST(HistogramTest, ConcurrentObservationsAreAllCounted) {
  Histogram h(kRpcSecondsBounds);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.Observe(0.003);
    });
  }
  for (std::thread& t : threads) t.join();
  HistogramData d = h.Snapshot();
  EXPECT_EQ(d.count(), 40000u);
  EXPECT_NEAR(d.sum, 120.0, 1e-6);
}

TEST(ProcessUsageTest, StatFieldsAreCountedFromTheLastParenthesis) {
  // A comm with spaces and a ')' must not shift utime (14) and stime (15).
  const std::string stat =
      "4242 (qemu) (x y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 3 0 100 0 0";
  Result<double> cpu = CpuSecondsFromStat(stat, 100);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  EXPECT_DOUBLE_EQ(*cpu, 4.0);
  EXPECT_FALSE(CpuSecondsFromStat("4242 (qemu) S 1 2", 100).ok());
  EXPECT_FALSE(CpuSecondsFromStat("no comm here", 100).ok());
}

TEST(ProcessUsageTest, RssComesFromVmRssInKib) {
  Result<uint64_t> rss = RssBytesFromStatus("Name:\tqemu\nVmPeak:\t  9 kB\nVmRSS:\t  2048 kB\n");
  ASSERT_TRUE(rss.ok());
  EXPECT_EQ(*rss, 2048u * 1024);
  EXPECT_EQ(RssBytesFromStatus("Name:\tkthreadd\n").value(), 0u);
  EXPECT_FALSE(RssBytesFromStatus("VmRSS:\tlots\n").ok());
}

TEST(ProcessUsageTest, ReadsThisProcess) {
  Result<ProcessUsage> usage = ReadProcessUsage(::getpid());
  ASSERT_TRUE(usage.ok()) << usage.status().ToString();
  EXPECT_GT(usage->rss_bytes, 0u);
  EXPECT_GE(usage->cpu_seconds, 0.0);
  EXPECT_EQ(ReadProcessUsage(-1).status().code(), Code::kNotFound);
}

TEST(ExpositionTest, FamiliesCarryHelpTypeAndEscapedLabels) {
  Snapshot s;
  s.vms_by_state = {{"running", 2}, {"stopped", 0}};
  s.vm_usage = {{"we\"b\\1\n", 1.5, 4096}};
  Histogram h(kOpSecondsBounds);
  h.Observe(3);
  s.ops = {{"vm.create", "succeeded", h.Snapshot()}};
  s.rpc = {{"vm.ls", {{"ok", 3}, {"not_found", 1}}, h.Snapshot()}};
  s.taps = Snapshot::Taps{4, 1, 2, 5, 0};
  s.dns_queries["host"] = {{"nxdomain", 7}};
  s.sessions_by_state = {{"running", 1}};
  const std::string text = Render(s);
  EXPECT_THAT(text, HasSubstr("# HELP warren_vms VMs by state.\n# TYPE warren_vms gauge\n"));
  EXPECT_THAT(text, HasSubstr("warren_vms{state=\"running\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE warren_vm_cpu_seconds_total counter\n"));
  EXPECT_THAT(text, HasSubstr("warren_vm_cpu_seconds_total{vm=\"we\\\"b\\\\1\\n\"} 1.5\n"));
  EXPECT_THAT(text, HasSubstr("warren_vm_resident_memory_bytes{vm=\"we\\\"b\\\\1\\n\"} 4096\n"));
  EXPECT_THAT(text, HasSubstr("warren_ops_total{kind=\"vm.create\",result=\"succeeded\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE warren_op_duration_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("warren_op_duration_seconds_bucket{kind=\"vm.create\",result="
                              "\"succeeded\",le=\"2.5\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("warren_op_duration_seconds_bucket{kind=\"vm.create\",result="
                              "\"succeeded\",le=\"5\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("warren_op_duration_seconds_bucket{kind=\"vm.create\",result="
                              "\"succeeded\",le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("warren_rpc_requests_total{method=\"vm.ls\",result=\"ok\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("warren_tap_pool_takes_total{kind=\"cold\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("warren_dns_queries_total{listener=\"host\",outcome=\"nxdomain\"} 7\n"));
  EXPECT_THAT(text, HasSubstr("warren_sessions{state=\"running\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("warren_rpc_unknown_method_requests_total 0\n"));
}

}  // namespace
}  // namespace warren::metrics
