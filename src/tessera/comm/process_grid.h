// ProcessGrid: the world's ranks arranged as a dp × pp × tp grid with named axes (docs/parallelism.md).
//
// Rank order is spec/grid_order.h's, shared with the planner: tp fastest, then dp, then pp (Megatron's
// tp-dp-pp, torchtitan's mesh): tensor-parallel peers are adjacent ranks, so they land on the same host
// and use the fastest links; pipeline neighbours are farthest apart.
//   rank = (pp_index · dp + dp_index) · tp + tp_index
// Each axis has a Communicator over the ranks that differ only along that axis.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "tessera/comm/comm_factory.h"
#include "tessera/comm/communicator.h"
#include "tessera/core/status.h"

namespace tessera {

enum class GridAxis { kDp = 0, kPp = 1, kTp = 2 };

struct GridCoord {
  int dp = 0, pp = 0, tp = 0;
};

// The backend of each axis group (comm_factory.h). kKeep: the world's backend (mpi under mpirun, local for
// thread-ranks); kAuto picks shm within a host and hier across hosts.
struct GridBackends {
  CommBackend dp = CommBackend::kKeep, pp = CommBackend::kKeep, tp = CommBackend::kKeep;
};

class ProcessGrid {
 public:
  // The grid of one process (dp = pp = tp = 1) over the self communicator.
  static ProcessGrid single_process();
  // The grid over `world` (size must be dp·pp·tp): splits one communicator per axis, named "dp", "pp",
  // "tp", each of the backend `backends` names for it. Collective.
  static StatusOr<ProcessGrid> create(std::unique_ptr<Communicator> world, int dp, int pp, int tp,
                                      GridBackends backends = {});

  // Coordinates of `rank` in a dp×pp×tp grid (pure arithmetic; used by the planner and the launcher too).
  static GridCoord coord_of(int rank, int dp, int pp, int tp);
  static int rank_of(GridCoord coord, int dp, int pp, int tp);

  int world_size() const { return dp_ * pp_ * tp_; }
  int rank() const { return rank_; }
  GridCoord coord() const { return coord_of(rank_, dp_, pp_, tp_); }
  int axis_size(GridAxis axis) const;
  // The world rank of the member at `index` of this rank's group on the axis named `axis` ("world", "dp",
  // "pp", "tp"); -1 for another name (a backend's inner group, such as "dp/host") or an index outside it.
  int world_rank_of(std::string_view axis, int index) const;
  Communicator& group(GridAxis axis) { return *groups_[static_cast<int>(axis)]; }
  Communicator& world() { return *world_; }

 private:
  ProcessGrid() = default;
  int dp_ = 1, pp_ = 1, tp_ = 1, rank_ = 0;
  std::unique_ptr<Communicator> world_;
  std::array<std::unique_ptr<Communicator>, 3> groups_;
};

}  // namespace tessera
