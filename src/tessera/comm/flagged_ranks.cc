#include "tessera/comm/flagged_ranks.h"

#include <cstdint>

namespace tessera {

StatusOr<std::vector<int>> ranks_flagging(Communicator& group, bool mine, std::string_view what) {
  std::vector<int64_t> flags(static_cast<size_t>(group.size()), 0);
  flags[static_cast<size_t>(group.rank())] = mine ? 1 : 0;
  TESSERA_RETURN_IF_ERROR(group.all_reduce(flags.data(), group.size(), ReduceOp::kMax).with_context(what));
  std::vector<int> flagged;
  for (int r = 0; r < group.size(); ++r) {
    if (flags[static_cast<size_t>(r)] != 0) flagged.push_back(r);
  }
  return flagged;
}

}  // namespace tessera
