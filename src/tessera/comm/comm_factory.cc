#include "tessera/comm/comm_factory.h"

#include <algorithm>

#include "tessera/comm/hierarchical_communicator.h"

namespace tessera {

StatusOr<CommBackend> parse_comm_backend(std::string_view name) {
  if (name == "keep") return CommBackend::kKeep;
  if (name == "auto") return CommBackend::kAuto;
  if (name == "mpi") return CommBackend::kMpi;
  if (name == "shm") return CommBackend::kShm;
  if (name == "hier") return CommBackend::kHier;
  return invalid_argument_error("comm backend '{}': expected one of keep, auto, mpi, shm, hier", name);
}

const char* comm_backend_name(CommBackend backend) {
  switch (backend) {
    case CommBackend::kKeep: return "keep";
    case CommBackend::kAuto: return "auto";
    case CommBackend::kMpi: return "mpi";
    case CommBackend::kShm: return "shm";
    case CommBackend::kHier: return "hier";
  }
  return "?";
}

StatusOr<std::unique_ptr<Communicator>> make_axis_communicator(std::unique_ptr<Communicator> group, CommBackend backend,
                                                               const ShmOptions& shm) {
  if (backend == CommBackend::kKeep) return group;
  const std::string have = group->backend_name();
  if (have != "mpi") {
    if (backend == CommBackend::kAuto || have == comm_backend_name(backend)) return group;
    return invalid_argument_error("axis '{}': backend {} needs an mpi group to build on, got a {} group", group->axis(),
                                  comm_backend_name(backend), have);
  }
  if (backend == CommBackend::kMpi || group->size() == 1) return group;
  if (backend == CommBackend::kAuto) {
    TESSERA_ASSIGN_OR_RETURN(HostLayout hosts, detect_hosts(*group));
    if (hosts.hosts == 1) {
      backend = CommBackend::kShm;
    } else {
      std::vector<int> per_host(static_cast<size_t>(hosts.hosts), 0);
      for (int h : hosts.host_of_rank) ++per_host[h];
      const bool shared = *std::max_element(per_host.begin(), per_host.end()) > 1;
      const bool even = std::all_of(per_host.begin(), per_host.end(), [&](int n) { return n == per_host[0]; });
      backend = shared && even ? CommBackend::kHier : CommBackend::kMpi;
      if (backend == CommBackend::kMpi) return group;
    }
  }
  if (backend == CommBackend::kShm) return make_shm_communicator(*group, group->options(), shm);
  return make_hierarchical_communicator(std::move(group), shm);
}

}  // namespace tessera
