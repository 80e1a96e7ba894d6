// GroupCommunicator: the Communicator of ranks that share memory (the local and shm backends). The
// algorithms (docs/communication.md) run on a GroupTransport's arena (group_arena.h) on a progress thread
// per rank, so *_async calls return at once and the caller computes while the collective runs.
//
// Collectives are cut into blocks of the arena's block_bytes and pipelined through `slots` staging slots
// per rank; ranks whose buffer the transport can share (local: every buffer; shm: Communicator::allocate
// memory) skip the staging copies and are read and written in place. All-reduce is a reduce-scatter
// (rank r reduces slice r of every block, one writer per slice) followed by an all-gather, fused per block.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tessera/comm/communicator.h"
#include "tessera/comm/group_arena.h"

namespace tessera {

using CommClock = std::chrono::steady_clock;

// Where the shared memory comes from: the arena, which buffers peers can reach directly, and sub-groups.
class GroupTransport {
 public:
  // Where a buffer lives so that a peer can reach it (meaning defined by the transport).
  struct Location {
    uint64_t segment = 0;
    uint64_t offset = 0;
  };
  virtual ~GroupTransport() = default;
  virtual std::string backend_name() const = 0;
  virtual char* arena() const = 0;
  virtual const ArenaLayout& layout() const = 0;
  // True, with `where` filled, when peers can reach [data, data + bytes) of this rank directly.
  virtual bool locate(const void* data, int64_t bytes, Location* where) = 0;
  // This process's address of `peer`'s buffer at `where` (mapping it on first use).
  virtual StatusOr<char*> resolve(int peer, const Location& where) = 0;
  virtual StatusOr<CommBuffer> allocate(int64_t bytes) = 0;
  // The transport of a sub-group: `members` are this group's ranks in the new order, `my_index` this
  // rank's place among them, `split_id` the same number on every member (this group's split counter).
  virtual StatusOr<std::unique_ptr<GroupTransport>> split(const std::vector<int>& members, int my_index,
                                                          uint64_t split_id, CommClock::time_point deadline) = 0;
  // Called once every member has attached (after a barrier): a transport may drop names now.
  virtual void attached() {}
};

std::unique_ptr<Communicator> make_group_communicator(int rank, int size, std::unique_ptr<GroupTransport> transport,
                                                      CommOptions options);

// Backs off while waiting for peers: ~1000 pause instructions (tens of µs), then 256 yields of the core,
// then 20 µs sleeps, so that a waiting rank never starves the compute threads it shares the cores with.
class Backoff {
 public:
  void pause();
  void reset() { spins_ = 0; }

 private:
  int64_t spins_ = 0;
};

}  // namespace tessera
