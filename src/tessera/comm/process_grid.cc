#include "tessera/comm/process_grid.h"

namespace tessera {

ProcessGrid ProcessGrid::single_process() {
  ProcessGrid grid;
  grid.world_ = make_self_communicator();
  for (auto& group : grid.groups_) group = make_self_communicator();
  return grid;
}

GridCoord ProcessGrid::coord_of(int rank, int dp, int pp, int tp) {
  (void)dp;
  return GridCoord{.dp = rank / (pp * tp), .pp = (rank / tp) % pp, .tp = rank % tp};
}

int ProcessGrid::rank_of(GridCoord coord, int dp, int pp, int tp) {
  (void)dp;
  return (coord.dp * pp + coord.pp) * tp + coord.tp;
}

int ProcessGrid::axis_size(GridAxis axis) const {
  switch (axis) {
    case GridAxis::kDp: return dp_;
    case GridAxis::kPp: return pp_;
    case GridAxis::kTp: return tp_;
  }
  return 1;
}

}  // namespace tessera
