// Ranks that were launched with different configurations must not train together (one would read other
// data, build another model, or wait in a collective the others never call). check_ranks_agree compares
// every rank's resolved config text over `world` and fails on every rank with the same one line, naming
// the first differing rank and the first line where its config differs from rank 0's.
#pragma once

#include <string>

#include "tessera/comm/communicator.h"
#include "tessera/core/status.h"

namespace tessera {

// Collective over `world`. `what` names the text in the message ("config").
Status check_ranks_agree(Communicator& world, const std::string& text, const std::string& what);

}  // namespace tessera
