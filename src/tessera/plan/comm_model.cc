#include "tessera/plan/comm_model.h"

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
namespace {
// Members of a group that share one scale-up domain (1 when the stride already exceeds the domain).
int64_t members_per_domain(const ClusterLinks& links, int64_t n, int64_t stride) {
  if (n * stride <= links.scaleup_domain) return n;
  const int64_t inner = std::max<int64_t>(1, links.scaleup_domain / std::max<int64_t>(stride, 1));
  return std::min(n, inner);
}
}  // namespace

double group_reduce_scatter_seconds(const ClusterLinks& links, int64_t n, int64_t stride, double bytes) {
  const int64_t inner = members_per_domain(links, n, stride), outer = n / inner;
  return reduce_scatter_seconds(links.scaleup, inner, bytes) +
         reduce_scatter_seconds(links.scaleout, outer, bytes / static_cast<double>(inner));
}
double group_all_gather_seconds(const ClusterLinks& links, int64_t n, int64_t stride, double bytes) {
  return group_reduce_scatter_seconds(links, n, stride, bytes);
}
double group_all_reduce_seconds(const ClusterLinks& links, int64_t n, int64_t stride, double bytes) {
  const int64_t inner = members_per_domain(links, n, stride), outer = n / inner;
  return 2 * reduce_scatter_seconds(links.scaleup, inner, bytes) +
         all_reduce_seconds(links.scaleout, outer, bytes / static_cast<double>(inner));
}

double send_recv_seconds(const Link& link, double bytes) { return link.latency_s + bytes / link.bytes_per_s; }

}  // namespace tessera::plan
