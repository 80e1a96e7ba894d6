#include "tessera/parallel/rank_agreement.h"

#include <sstream>
#include <vector>

#include "tessera/core/hash.h"

namespace tessera {

namespace {

// The first line where a and b differ, as "line N: `a line`" / "`b line`" (empty line at the end of one).
std::pair<std::string, std::string> first_difference(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  while (true) {
    const bool more_a = static_cast<bool>(std::getline(sa, la));
    const bool more_b = static_cast<bool>(std::getline(sb, lb));
    if (!more_a) la = "(end of config)";
    if (!more_b) lb = "(end of config)";
    if (la != lb || (!more_a && !more_b)) return {la, lb};
  }
}

}  // namespace

Status check_ranks_agree(Communicator& world, const std::string& text, const std::string& what) {
  if (world.size() == 1) return Status();
  const uint64_t mine = hash_bytes(text);
  std::vector<uint64_t> all(static_cast<size_t>(world.size()));
  TESSERA_RETURN_IF_ERROR(world.all_gather_bytes(&mine, all.data(), sizeof(mine)).with_context(what + " agreement"));
  int differing = -1;
  for (int r = 1; r < world.size() && differing < 0; ++r) {
    if (all[static_cast<size_t>(r)] != all[0]) differing = r;
  }
  if (differing < 0) return Status();
  // Every rank learns the differing rank's text, so that every rank returns the same message.
  int64_t length = static_cast<int64_t>(text.size());
  TESSERA_RETURN_IF_ERROR(world.broadcast(&length, sizeof(length), differing));
  std::string theirs = world.rank() == differing ? text : std::string(static_cast<size_t>(length), '\0');
  TESSERA_RETURN_IF_ERROR(world.broadcast(theirs.data(), length, differing));
  int64_t length0 = static_cast<int64_t>(text.size());
  TESSERA_RETURN_IF_ERROR(world.broadcast(&length0, sizeof(length0), 0));
  std::string rank0 = world.rank() == 0 ? text : std::string(static_cast<size_t>(length0), '\0');
  TESSERA_RETURN_IF_ERROR(world.broadcast(rank0.data(), length0, 0));
  const auto [line0, line_theirs] = first_difference(rank0, theirs);
  return invalid_argument_error(
      "ranks were launched with different {0}s: rank {1} has `{2}` where rank 0 has `{3}`; hint: start every rank "
      "with the same {0} file and --set options",
      what, differing, line_theirs, line0);
}

}  // namespace tessera
