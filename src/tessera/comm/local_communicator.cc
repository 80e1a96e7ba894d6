#include "tessera/comm/local_communicator.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "tessera/comm/group_communicator.h"

namespace tessera {

namespace {

// The memory one group of thread-ranks shares, and the groups split from it.
struct LocalGroup {
  LocalGroup(int ranks, const LocalGroupOptions& options)
      : layout(ranks, options.block_bytes, options.slots, options.p2p_slot_bytes), options(options) {
    const size_t bytes = (layout.total_bytes() + 63) / 64 * 64;
    arena = static_cast<char*>(std::aligned_alloc(64, bytes));
    std::memset(arena, 0, bytes);
  }
  ~LocalGroup() { std::free(arena); }
  LocalGroup(const LocalGroup&) = delete;
  LocalGroup& operator=(const LocalGroup&) = delete;

  ArenaLayout layout;
  LocalGroupOptions options;
  char* arena = nullptr;
  std::mutex mutex;
  std::map<std::pair<uint64_t, int>, std::shared_ptr<LocalGroup>> children;  // (split id, first member)
};

class LocalTransport final : public GroupTransport {
 public:
  LocalTransport(std::shared_ptr<LocalGroup> group, int rank) : group_(std::move(group)), rank_(rank) {}
  std::string backend_name() const override { return "local"; }
  char* arena() const override { return group_->arena; }
  const ArenaLayout& layout() const override { return group_->layout; }
  bool locate(const void* data, int64_t, Location* where) override {
    using Sharing = LocalGroupOptions::Sharing;
    const Sharing sharing = group_->options.sharing;
    if (sharing == Sharing::kNone || (sharing == Sharing::kEvenRanks && rank_ % 2 != 0)) return false;
    where->segment = 0;
    where->offset = reinterpret_cast<uint64_t>(data);
    return true;
  }
  StatusOr<char*> resolve(int, const Location& where) override { return reinterpret_cast<char*>(where.offset); }
  StatusOr<CommBuffer> allocate(int64_t bytes) override { return allocate_heap_buffer(bytes); }
  StatusOr<std::unique_ptr<GroupTransport>> split(const std::vector<int>& members, int my_index, uint64_t split_id,
                                                  CommClock::time_point) override {
    std::shared_ptr<LocalGroup> child;
    {
      std::lock_guard lock(group_->mutex);
      auto& slot = group_->children[{split_id, members.front()}];
      if (!slot) slot = std::make_shared<LocalGroup>(static_cast<int>(members.size()), group_->options);
      child = slot;
    }
    return std::unique_ptr<GroupTransport>(std::make_unique<LocalTransport>(child, my_index));
  }

 private:
  std::shared_ptr<LocalGroup> group_;
  int rank_;
};

}  // namespace

StatusOr<std::vector<std::unique_ptr<Communicator>>> make_local_communicators(int n, const CommOptions& options,
                                                                              const LocalGroupOptions& group) {
  if (n < 1) return invalid_argument_error("local communicator: {} ranks; expected at least 1", n);
  if (group.block_bytes < 64 || group.slots < 1 || group.p2p_slot_bytes < 1) {
    return invalid_argument_error("local communicator: block_bytes {} (expected ≥ 64), slots {} and p2p_slot_bytes {} (expected ≥ 1)",
                                  group.block_bytes, group.slots, group.p2p_slot_bytes);
  }
  auto shared = std::make_shared<LocalGroup>(n, group);
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < n; ++r) {
    out.push_back(make_group_communicator(r, n, std::make_unique<LocalTransport>(shared, r), options));
  }
  return out;
}

Status run_on_thread_ranks(int n, const std::function<void(Communicator&)>& body, const CommOptions& options,
                           const LocalGroupOptions& group) {
  TESSERA_ASSIGN_OR_RETURN(auto comms, make_local_communicators(n, options, group));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) threads.emplace_back([&, r] { body(*comms[r]); });
  for (auto& t : threads) t.join();
  return Status();
}

}  // namespace tessera
