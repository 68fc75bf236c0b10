#include "metrics/exposition.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <utility>

namespace warren::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  return MetricFamily{std::move(name), std::move(help), type, {}};
}

void AddGauge(MetricFamily& f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

void AddCounter(MetricFamily& f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  f.metric.push_back(std::move(m));
}

void AddHistogram(MetricFamily& f, Labels labels, const HistogramData& h) {
  ClientMetric m;
  m.label = std::move(labels);
  m.histogram.sample_sum = h.sum;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    m.histogram.bucket.push_back({cumulative, h.bounds[i]});
  }
  cumulative += h.counts.empty() ? 0 : h.counts.back();
  // The serializer prints the +Inf bucket from sample_count.
  m.histogram.sample_count = cumulative;
  f.metric.push_back(std::move(m));
}

void AddVms(const Snapshot& s, std::vector<MetricFamily>& out) {
  MetricFamily vms = Family("warren_vms", "VMs by state.", MetricType::Gauge);
  for (const auto& [state, n] : s.vms_by_state) AddGauge(vms, {{"state", state}}, n);
  MetricFamily cpu = Family("warren_vm_cpu_seconds_total",
                            "CPU time (user + system) used by a running VM's QEMU process.",
                            MetricType::Counter);
  MetricFamily rss = Family("warren_vm_resident_memory_bytes",
                            "Resident memory of a running VM's QEMU process.", MetricType::Gauge);
  for (const Snapshot::VmUsage& u : s.vm_usage) {
    AddCounter(cpu, {{"vm", u.vm}}, u.cpu_seconds);
    AddGauge(rss, {{"vm", u.vm}}, static_cast<double>(u.rss_bytes));
  }
  out.push_back(std::move(vms));
  out.push_back(std::move(cpu));
  out.push_back(std::move(rss));
}

void AddOps(const Snapshot& s, std::vector<MetricFamily>& out) {
  MetricFamily total = Family("warren_ops_total", "Ops (VM creates, image builds) that ended.",
                              MetricType::Counter);
  MetricFamily duration = Family("warren_op_duration_seconds",
                                 "How long ended ops ran, start to end.", MetricType::Histogram);
  for (const Snapshot::Ops& op : s.ops) {
    const Labels labels = {{"kind", op.kind}, {"result", op.result}};
    AddCounter(total, labels, static_cast<double>(op.duration.count()));
    AddHistogram(duration, labels, op.duration);
  }
  MetricFamily running = Family("warren_ops_running", "Ops running now.", MetricType::Gauge);
  AddGauge(running, {}, static_cast<double>(s.ops_running));
  out.push_back(std::move(total));
  out.push_back(std::move(duration));
  out.push_back(std::move(running));
}

void AddRpc(const Snapshot& s, std::vector<MetricFamily>& out) {
  MetricFamily calls = Family("warren_rpc_requests_total",
                              "JSON-RPC calls (unix socket and web UI) by method and result.",
                              MetricType::Counter);
  MetricFamily duration =
      Family("warren_rpc_request_duration_seconds",
             "How long JSON-RPC calls took by method (a streaming call: its whole life).",
             MetricType::Histogram);
  for (const Snapshot::Rpc& r : s.rpc) {
    for (const auto& [result, n] : r.calls_by_result) {
      AddCounter(calls, {{"method", r.method}, {"result", result}}, static_cast<double>(n));
    }
    AddHistogram(duration, {{"method", r.method}}, r.duration);
  }
  MetricFamily unknown = Family("warren_rpc_unknown_method_requests_total",
                                "JSON-RPC calls naming no method of the table.",
                                MetricType::Counter);
  AddCounter(unknown, {}, static_cast<double>(s.rpc_unknown_method));
  out.push_back(std::move(calls));
  out.push_back(std::move(duration));
  out.push_back(std::move(unknown));
}

void AddTaps(const Snapshot& s, std::vector<MetricFamily>& out) {
  MetricFamily ready = Family("warren_tap_pool_ready",
                              "TAPs made in advance and ready for the next VM.",
                              MetricType::Gauge);
  MetricFamily takes = Family("warren_tap_pool_takes_total",
                              "TAPs handed to VMs: warm from the stock, or cold (made on demand).",
                              MetricType::Counter);
  MetricFamily created = Family("warren_tap_pool_created_total",
                                "TAPs made by the pool's refill thread.", MetricType::Counter);
  MetricFamily errors = Family("warren_tap_pool_refill_errors_total",
                               "Failed attempts of the refill thread to make a TAP.",
                               MetricType::Counter);
  if (s.taps) {
    AddGauge(ready, {}, static_cast<double>(s.taps->ready));
    AddCounter(takes, {{"kind", "warm"}}, static_cast<double>(s.taps->warm_takes));
    AddCounter(takes, {{"kind", "cold"}}, static_cast<double>(s.taps->cold_takes));
    AddCounter(created, {}, static_cast<double>(s.taps->created));
    AddCounter(errors, {}, static_cast<double>(s.taps->refill_errors));
  }
  for (MetricFamily* f : {&ready, &takes, &created, &errors}) out.push_back(std::move(*f));
}

void AddDnsAndSessions(const Snapshot& s, std::vector<MetricFamily>& out) {
  MetricFamily dns = Family("warren_dns_queries_total",
                            "DNS queries by listener (host, vm) and outcome (the answer's rcode, "
                            "or truncated, forwarded, malformed).",
                            MetricType::Counter);
  for (const auto& [listener, outcomes] : s.dns_queries) {
    for (const auto& [outcome, n] : outcomes) {
      AddCounter(dns, {{"listener", listener}, {"outcome", outcome}}, static_cast<double>(n));
    }
  }
  MetricFamily sessions =
      Family("warren_sessions", "Detached guest sessions by state.", MetricType::Gauge);
  for (const auto& [state, n] : s.sessions_by_state) AddGauge(sessions, {{"state", state}}, n);
  out.push_back(std::move(dns));
  out.push_back(std::move(sessions));
}

}  // namespace

std::string Render(const Snapshot& snapshot) {
  std::vector<MetricFamily> families;
  AddVms(snapshot, families);
  AddOps(snapshot, families);
  AddRpc(snapshot, families);
  AddTaps(snapshot, families);
  AddDnsAndSessions(snapshot, families);
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace warren::metrics
