// Which ranks of a group raised a flag: every rank says yes or no, every rank learns who said yes (one
// max all-reduce of a vector with a slot per rank). For verdicts that all ranks must act on alike: which
// ranks saw a checksum fail, which cannot see a directory, which hold state that differs from a replay.
#pragma once

#include <string_view>
#include <vector>

#include "tessera/comm/communicator.h"

namespace tessera {

// Collective over `group`. The ranks (of `group`) whose `mine` was true, ascending. A comm failure is
// returned with `what` ("ABFT", ...) as its context.
StatusOr<std::vector<int>> ranks_flagging(Communicator& group, bool mine, std::string_view what);

}  // namespace tessera
