// The memory a group of ranks on one host shares (the local and shm backends): per-rank control words and
// operation descriptors, per-rank staging slots for collectives, and one message channel per ordered pair
// of ranks for send/recv. The same layout lives in heap memory (local: ranks are threads) or in a POSIX
// shared-memory segment (shm: ranks are processes); group_communicator.cc runs the algorithms on it.
//
// Layout (every part 64-byte aligned, `p` ranks):
//   ArenaHeader
//   RankControl[p]                          counters + descriptor of each rank (one writer: that rank)
//   stage[p][slots][block_bytes]            rank r writes stage[r], every rank reads it
//   PairChannel[p·p]                        channel (src, dst) at src·p + dst
//   channel_data[p·p][p2p_slots][p2p_slot_bytes]
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tessera {

// One counter per cache line, so ranks spinning on different counters never share a line.
struct alignas(64) ArenaCounter {
  std::atomic<uint64_t> value{0};
};

// What a rank is about to do: written by that rank before it publishes `entered`, read by every peer
// after it sees `entered`, to check that all ranks called the same collective.
struct OpDescriptor {
  uint64_t seq = 0;
  uint32_t op = 0;      // CommOpKind
  uint32_t dtype = 0;   // DataType
  uint32_t reduce = 0;  // ReduceOp
  int32_t root = -1;
  int64_t count = 0;
  uint32_t zero_copy = 0;  // 1: peers read/write this rank's buffer directly at `location`
  uint32_t unused = 0;
  uint64_t segment = 0;    // transport-defined location of the zero-copy buffer
  uint64_t offset = 0;
};

struct RankControl {
  ArenaCounter entered;   // 1 + seq of the last collective this rank entered
  ArenaCounter done;      // 1 + seq of the last collective this rank finished
  ArenaCounter arrived;   // blocks whose input this rank has staged (global block counter)
  ArenaCounter reduced;   // blocks whose slice this rank has reduced
  ArenaCounter consumed;  // blocks this rank no longer reads
  alignas(64) OpDescriptor desc;
};

inline constexpr int kP2pSlots = 4;

struct P2pSlotHeader {
  uint64_t tag = 0;
  uint64_t message_bytes = 0;  // the whole message
  uint64_t chunk_bytes = 0;    // this slot
  uint64_t unused = 0;
};

struct PairChannel {
  ArenaCounter sent;      // chunks the sender has put in (written by the sender)
  ArenaCounter received;  // chunks the receiver has taken out (written by the receiver)
  alignas(64) P2pSlotHeader headers[kP2pSlots];
};

inline constexpr uint64_t kArenaMagic = 0x7465737365726131ULL;  // "tesserа1"

struct ArenaHeader {
  std::atomic<uint64_t> ready{0};  // kArenaMagic once the creator has laid the arena out
  uint64_t ranks = 0;
  uint64_t block_bytes = 0;
  uint64_t slots = 0;
  uint64_t p2p_slot_bytes = 0;
  uint64_t total_bytes = 0;
  // Tickets for the chunks of in-place all-reduces, taken by every rank (fetch_add): ever increasing, each
  // all-reduce owns the next `chunks + ranks` values (group_communicator.cc).
  ArenaCounter chunk_tickets;
};

class ArenaLayout {
 public:
  ArenaLayout() = default;
  ArenaLayout(int ranks, int64_t block_bytes, int slots, int64_t p2p_slot_bytes)
      : ranks_(ranks), block_bytes_(block_bytes), slots_(slots), p2p_slot_bytes_(p2p_slot_bytes) {
    size_t at = align(sizeof(ArenaHeader));
    control_ = at;
    at += align(sizeof(RankControl) * static_cast<size_t>(ranks));
    stage_ = at;
    at += static_cast<size_t>(ranks) * static_cast<size_t>(slots) * static_cast<size_t>(block_bytes);
    channels_ = at;
    at += align(sizeof(PairChannel) * static_cast<size_t>(ranks) * static_cast<size_t>(ranks));
    channel_data_ = at;
    at += static_cast<size_t>(ranks) * ranks * kP2pSlots * static_cast<size_t>(p2p_slot_bytes);
    total_ = at;
  }

  int ranks() const { return ranks_; }
  int64_t block_bytes() const { return block_bytes_; }
  int slots() const { return slots_; }
  int64_t p2p_slot_bytes() const { return p2p_slot_bytes_; }
  size_t total_bytes() const { return total_; }

  ArenaHeader* header(char* base) const { return reinterpret_cast<ArenaHeader*>(base); }
  RankControl* control(char* base, int rank) const {
    return reinterpret_cast<RankControl*>(base + control_) + rank;
  }
  char* stage(char* base, int rank, uint64_t slot) const {
    return base + stage_ + (static_cast<size_t>(rank) * slots_ + slot) * static_cast<size_t>(block_bytes_);
  }
  PairChannel* channel(char* base, int src, int dst) const {
    return reinterpret_cast<PairChannel*>(base + channels_) + (static_cast<size_t>(src) * ranks_ + dst);
  }
  char* channel_data(char* base, int src, int dst, uint64_t slot) const {
    return base + channel_data_ +
           ((static_cast<size_t>(src) * ranks_ + dst) * kP2pSlots + slot) * static_cast<size_t>(p2p_slot_bytes_);
  }

 private:
  static size_t align(size_t n) { return (n + 63) / 64 * 64; }
  int ranks_ = 0;
  int64_t block_bytes_ = 0;
  int slots_ = 0;
  int64_t p2p_slot_bytes_ = 0;
  size_t control_ = 0, stage_ = 0, channels_ = 0, channel_data_ = 0, total_ = 0;
};

}  // namespace tessera
