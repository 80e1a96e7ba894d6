#include "tessera/comm/process_grid.h"

#include "tessera/spec/grid_order.h"

namespace tessera {

ProcessGrid ProcessGrid::single_process() {
  ProcessGrid grid;
  grid.world_ = make_self_communicator({.name = "world"});
  grid.groups_[static_cast<int>(GridAxis::kDp)] = make_self_communicator({.name = "dp"});
  grid.groups_[static_cast<int>(GridAxis::kPp)] = make_self_communicator({.name = "pp"});
  grid.groups_[static_cast<int>(GridAxis::kTp)] = make_self_communicator({.name = "tp"});
  return grid;
}

StatusOr<ProcessGrid> ProcessGrid::create(std::unique_ptr<Communicator> world, int dp, int pp, int tp,
                                          GridBackends backends) {
  if (dp * pp * tp != world->size()) {
    return invalid_argument_error("process grid: dp({})*pp({})*tp({})={} != world_size({})", dp, pp, tp, dp * pp * tp,
                                  world->size());
  }
  ProcessGrid grid;
  grid.dp_ = dp;
  grid.pp_ = pp;
  grid.tp_ = tp;
  grid.rank_ = world->rank();
  const GridCoord c = coord_of(grid.rank_, dp, pp, tp);
  // An axis group holds the ranks that agree on the other two coordinates: color = those coordinates,
  // key = the coordinate along the axis (so group rank = axis index).
  TESSERA_ASSIGN_OR_RETURN(grid.groups_[static_cast<int>(GridAxis::kDp)], world->split(c.pp * tp + c.tp, c.dp, "dp"));
  TESSERA_ASSIGN_OR_RETURN(grid.groups_[static_cast<int>(GridAxis::kPp)], world->split(c.dp * tp + c.tp, c.pp, "pp"));
  TESSERA_ASSIGN_OR_RETURN(grid.groups_[static_cast<int>(GridAxis::kTp)], world->split(c.dp * pp + c.pp, c.tp, "tp"));
  const CommBackend chosen[3] = {backends.dp, backends.pp, backends.tp};
  for (int axis = 0; axis < 3; ++axis) {
    TESSERA_ASSIGN_OR_RETURN(grid.groups_[axis], make_axis_communicator(std::move(grid.groups_[axis]), chosen[axis]));
  }
  grid.world_ = std::move(world);
  return grid;
}

// The arithmetic is spec/grid_order.h's, shared with the planner.
GridCoord ProcessGrid::coord_of(int rank, int dp, int pp, int tp) {
  const GridPosition p = grid_position(rank, GridDims{.dp = dp, .pp = pp, .tp = tp});
  return GridCoord{.dp = static_cast<int>(p.dp), .pp = static_cast<int>(p.pp), .tp = static_cast<int>(p.tp)};
}

int ProcessGrid::rank_of(GridCoord coord, int dp, int pp, int tp) {
  return static_cast<int>(
      grid_rank(GridPosition{.dp = coord.dp, .pp = coord.pp, .tp = coord.tp}, GridDims{.dp = dp, .pp = pp, .tp = tp}));
}

int ProcessGrid::world_rank_of(std::string_view axis, int index) const {
  GridCoord c = coord();
  if (axis == "world") return index >= 0 && index < world_size() ? index : -1;
  if (axis == "dp" && index >= 0 && index < dp_) return c.dp = index, rank_of(c, dp_, pp_, tp_);
  if (axis == "pp" && index >= 0 && index < pp_) return c.pp = index, rank_of(c, dp_, pp_, tp_);
  if (axis == "tp" && index >= 0 && index < tp_) return c.tp = index, rank_of(c, dp_, pp_, tp_);
  return -1;
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
