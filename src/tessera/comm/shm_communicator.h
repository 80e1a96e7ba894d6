// The `shm` backend: ranks of one host reduce through POSIX shared memory (/dev/shm), with the algorithms
// of group_communicator.h on an arena segment that all ranks map. Buffers from Communicator::allocate are
// segments of their own that peers map on first use, so collectives on them run in place (zero copy);
// other buffers are copied through per-rank staging slots, block by block.
//
// Which ranks share a host is proven, not guessed: two containers can share a hostname (and even a boot
// id) without sharing /dev/shm, and grouping them by name would leave each waiting for peers it cannot
// see. detect_hosts groups ranks by (hostname, boot id) as candidates, has each candidate group's lowest
// rank create a segment holding a random token, and keeps in the group only the ranks that open that
// segment and read the same token; the others try again among themselves.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tessera/comm/communicator.h"

namespace tessera {

struct ShmOptions {
  int64_t block_bytes = 1 << 20;  // staging slot per rank: one pipelined block of a collective
  int slots = 4;                  // staging slots per rank (pipeline depth)
  int64_t p2p_slot_bytes = 64 << 10;
};

struct HostLayout {
  int host = 0;                 // index of this rank's host (hosts ordered by their lowest rank)
  int hosts = 1;
  int local_rank = 0;           // rank among the ranks of this host
  int local_size = 1;
  std::vector<int> host_of_rank;  // host index of every rank of the bootstrap communicator
  std::string token;            // random hex shared by the ranks of this host (names its segments)
};

// A killed rank leaves the names of its buffer segments in /dev/shm (they are mapped by peers on first use,
// so they cannot be unlinked at once, as the arena's name is); whoever started the job removes them after
// it ends. To find them, it sets TESSERA_SHM_TAG (1-32 letters and digits) for the job: every segment name
// of the job's shm communicators then starts with /dev/shm/tessera-TAG- (resilience/supervisor.h does this
// for each attempt). A malformed value is an InvalidArgument naming the variable.
inline constexpr const char* kShmTagEnvVar = "TESSERA_SHM_TAG";
StatusOr<std::string> shm_tag_from_environment();  // "" when unset

// Which ranks of `bootstrap` share /dev/shm. Collective over `bootstrap` (any backend).
StatusOr<HostLayout> detect_hosts(Communicator& bootstrap);

// A shm communicator over every rank of `bootstrap`, which must all share one host. Collective over
// `bootstrap`, which is only used while this runs.
StatusOr<std::unique_ptr<Communicator>> make_shm_communicator(Communicator& bootstrap, CommOptions options,
                                                              const ShmOptions& shm = {});

}  // namespace tessera
