#include "tessera/plan/comm_model.h"

#include <algorithm>

namespace tessera::plan {

ClusterLinks cluster_links(const ClusterSpec& cluster, const AcceleratorSpec& accelerator) {
  ClusterLinks links;
  const double up_gb = cluster.scaleup_gb_per_s > 0 ? cluster.scaleup_gb_per_s : accelerator.scaleup_gb_per_s;
  const double out_gbit =
      cluster.scaleout_gbit_per_s > 0 ? cluster.scaleout_gbit_per_s : accelerator.scaleout_gbit_per_s;
  links.scaleup = {up_gb * 1e9 * cluster.scaleup_efficiency, cluster.scaleup_latency_us * 1e-6};
  links.scaleout = {out_gbit / 8.0 * 1e9 * cluster.scaleout_efficiency, cluster.scaleout_latency_us * 1e-6};
  if (links.scaleup.bytes_per_s <= 0) links.scaleup = links.scaleout;
  if (links.scaleout.bytes_per_s <= 0) links.scaleout = links.scaleup;
  links.scaleup_domain = cluster.scaleup_domain > 0 ? cluster.scaleup_domain : accelerator.scaleup_domain;
  links.scaleup_domain = std::max<int64_t>(links.scaleup_domain, 1);
  return links;
}

double all_reduce_seconds(const Link& link, int64_t n, double bytes) {
  if (n <= 1) return 0;
  const double k = static_cast<double>(n - 1);
  return 2 * k * link.latency_s + 2 * k / static_cast<double>(n) * bytes / link.bytes_per_s;
}
double reduce_scatter_seconds(const Link& link, int64_t n, double bytes) {
  if (n <= 1) return 0;
  const double k = static_cast<double>(n - 1);
  return k * link.latency_s + k / static_cast<double>(n) * bytes / link.bytes_per_s;
}
double all_gather_seconds(const Link& link, int64_t n, double bytes) { return reduce_scatter_seconds(link, n, bytes); }
GroupSplit group_split(const ClusterLinks& links, int64_t n, int64_t stride) {
  stride = std::max<int64_t>(stride, 1);
  const int64_t domain = links.aligned_domain(n * stride);
  if (links.fits_scaleup(n, stride)) return {n, 1};
  if (n * stride <= domain) return {(n + 1) / 2, 2};  // fits in size but straddles a domain boundary
  if (stride >= domain) return {1, n};
  const int64_t inner = std::min(n, domain / stride);
  const int64_t domains = std::min(n, (n * stride + domain - 1) / domain);
  return {inner, std::max<int64_t>(domains, 2)};
}

double group_reduce_scatter_seconds(const ClusterLinks& links, int64_t n, int64_t stride, double bytes) {
  const GroupSplit g = group_split(links, n, stride);
  return reduce_scatter_seconds(links.scaleup, g.inner, bytes) +
         reduce_scatter_seconds(links.scaleout, g.domains, bytes / static_cast<double>(g.inner));
}
double group_all_gather_seconds(const ClusterLinks& links, int64_t n, int64_t stride, double bytes) {
  return group_reduce_scatter_seconds(links, n, stride, bytes);
}
double group_all_reduce_seconds(const ClusterLinks& links, int64_t n, int64_t stride, double bytes) {
  const GroupSplit g = group_split(links, n, stride);
  return 2 * reduce_scatter_seconds(links.scaleup, g.inner, bytes) +
         all_reduce_seconds(links.scaleout, g.domains, bytes / static_cast<double>(g.inner));
}

double group_all_to_all_seconds(const ClusterLinks& links, int64_t n, int64_t stride, double bytes) {
  if (n <= 1) return 0;
  const GroupSplit g = group_split(links, n, stride);
  const double N = static_cast<double>(n);
  // Every rank sends bytes/n to each member: (inner − 1) of them share its scale-up domain, the rest are
  // reached through its NIC; both run at once (NCCL/DeepEP issue all pairs together).
  const double inside = static_cast<double>(g.inner - 1) / N * bytes / links.scaleup.bytes_per_s;
  const double outside = (N - static_cast<double>(g.inner)) / N * bytes / links.scaleout.bytes_per_s;
  const double latency = g.domains > 1 ? links.scaleout.latency_s : links.scaleup.latency_s;
  return latency + std::max(inside, outside);
}

double send_recv_seconds(const Link& link, double bytes) { return link.latency_s + bytes / link.bytes_per_s; }

}  // namespace tessera::plan
