#include "tessera/comm/shm_communicator.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <mutex>
#include <thread>

#include "tessera/comm/group_communicator.h"

namespace tessera {

namespace {

StatusOr<std::string> random_hex(int bytes) {
  std::string raw(static_cast<size_t>(bytes), '\0');
  if (getrandom(raw.data(), raw.size(), 0) != static_cast<ssize_t>(raw.size())) {
    return unavailable_error("shm: getrandom failed: {}", std::strerror(errno));
  }
  std::string hex;
  for (unsigned char c : raw) hex += fmt::format("{:02x}", c);
  return hex;
}

// A mapped shared-memory segment. Move-only; unmaps on destruction.
class Mapping {
 public:
  Mapping() = default;
  Mapping(char* data, size_t bytes) : data_(data), bytes_(bytes) {}
  Mapping(Mapping&& o) noexcept : data_(std::exchange(o.data_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~Mapping() {
    if (data_) munmap(data_, bytes_);
  }
  char* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  char* data_ = nullptr;
  size_t bytes_ = 0;
};

// Creates segment `name` of `bytes` (reserved with posix_fallocate, so a full /dev/shm is an error here
// and not a SIGBUS later) and maps it.
StatusOr<Mapping> create_segment(const std::string& name, size_t bytes) {
  const int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) return io_error("shm: cannot create segment '{}': {}", name, std::strerror(errno));
  const int rc = bytes > 0 ? posix_fallocate(fd, 0, static_cast<off_t>(bytes)) : 0;
  if (rc != 0) {
    close(fd);
    shm_unlink(name.c_str());
    return io_error("shm: cannot reserve {} bytes for segment '{}' in /dev/shm: {}; hint: a larger /dev/shm (docker --shm-size)",
                    bytes, name, std::strerror(rc));
  }
  void* data = mmap(nullptr, std::max<size_t>(bytes, 1), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (data == MAP_FAILED) {
    shm_unlink(name.c_str());
    return io_error("shm: cannot map segment '{}' ({} bytes): {}", name, bytes, std::strerror(errno));
  }
  return Mapping(static_cast<char*>(data), std::max<size_t>(bytes, 1));
}

// Opens and maps an existing segment; NotFound when it does not exist (yet).
StatusOr<Mapping> open_segment(const std::string& name) {
  const int fd = shm_open(name.c_str(), O_RDWR, 0600);
  if (fd < 0) {
    if (errno == ENOENT) return not_found_error("shm: no segment '{}'", name);
    return io_error("shm: cannot open segment '{}': {}", name, std::strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return io_error("shm: cannot stat segment '{}': {}", name, std::strerror(errno));
  }
  const size_t bytes = std::max<size_t>(static_cast<size_t>(st.st_size), 1);
  void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (data == MAP_FAILED) return io_error("shm: cannot map segment '{}': {}", name, std::strerror(errno));
  return Mapping(static_cast<char*>(data), bytes);
}

// Buffers from allocate(), by address, so locate() can find the segment a pointer lies in.
struct BufferRegistry {
  struct Entry {
    uint64_t id;
    int64_t bytes;
  };
  std::mutex mutex;
  std::map<uintptr_t, Entry> by_base;
  uint64_t next_id = 1;
};

class ShmTransport final : public GroupTransport {
 public:
  ShmTransport(std::string prefix, int rank, Mapping arena, ArenaLayout layout, bool owns_name)
      : prefix_(std::move(prefix)), rank_(rank), arena_(std::move(arena)), layout_(layout), owns_name_(owns_name),
        registry_(std::make_shared<BufferRegistry>()) {}
  ~ShmTransport() override { attached(); }

  // Creates (creator) or attaches to (others, waiting until the creator has laid it out) the arena named
  // prefix + "-a".
  static StatusOr<std::unique_ptr<ShmTransport>> open(const std::string& prefix, int rank, int ranks, bool create,
                                                      const ShmOptions& shm, CommClock::time_point deadline) {
    const ArenaLayout layout(ranks, shm.block_bytes, shm.slots, shm.p2p_slot_bytes);
    const std::string name = prefix + "-a";
    Mapping arena;
    if (create) {
      TESSERA_ASSIGN_OR_RETURN(arena, create_segment(name, layout.total_bytes()));
      ArenaHeader* h = layout.header(arena.data());
      h->ranks = static_cast<uint64_t>(ranks);
      h->block_bytes = static_cast<uint64_t>(shm.block_bytes);
      h->slots = static_cast<uint64_t>(shm.slots);
      h->p2p_slot_bytes = static_cast<uint64_t>(shm.p2p_slot_bytes);
      h->total_bytes = layout.total_bytes();
      h->ready.store(kArenaMagic, std::memory_order_release);
    } else {
      Backoff backoff;
      for (;;) {
        auto opened = open_segment(name);
        if (opened.ok() && opened->bytes() >= layout.total_bytes() &&
            layout.header(opened->data())->ready.load(std::memory_order_acquire) == kArenaMagic) {
          arena = std::move(*opened);
          break;
        }
        if (!opened.ok() && opened.status().code() != StatusCode::kNotFound) return opened.status();
        if (CommClock::now() > deadline) return deadline_exceeded_error("shm: segment '{}' did not appear within the deadline", name);
        backoff.pause();
      }
      const ArenaHeader* h = layout.header(arena.data());
      if (h->ranks != static_cast<uint64_t>(ranks) || h->block_bytes != static_cast<uint64_t>(shm.block_bytes) ||
          h->slots != static_cast<uint64_t>(shm.slots) || h->p2p_slot_bytes != static_cast<uint64_t>(shm.p2p_slot_bytes)) {
        return failed_precondition_error("shm: segment '{}' was laid out for {} ranks, {} block bytes, {} slots; this rank expects {}, {}, {}",
                                         name, h->ranks, h->block_bytes, h->slots, ranks, shm.block_bytes, shm.slots);
      }
    }
    auto t = std::make_unique<ShmTransport>(prefix, rank, std::move(arena), layout, create);
    t->shm_ = shm;
    return t;
  }

  std::string backend_name() const override { return "shm"; }
  char* arena() const override { return arena_.data(); }
  const ArenaLayout& layout() const override { return layout_; }

  bool locate(const void* data, int64_t bytes, Location* where) override {
    const auto address = reinterpret_cast<uintptr_t>(data);
    std::lock_guard lock(registry_->mutex);
    auto it = registry_->by_base.upper_bound(address);
    if (it == registry_->by_base.begin()) return false;
    --it;
    if (address + static_cast<uintptr_t>(bytes) > it->first + static_cast<uintptr_t>(it->second.bytes)) return false;
    where->segment = it->second.id;
    where->offset = address - it->first;
    return true;
  }

  StatusOr<char*> resolve(int peer, const Location& where) override {
    auto key = std::make_pair(peer, where.segment);
    auto it = peer_buffers_.find(key);
    if (it == peer_buffers_.end()) {
      TESSERA_ASSIGN_OR_RETURN(Mapping m, open_segment(buffer_name(peer, where.segment)));
      it = peer_buffers_.emplace(key, std::move(m)).first;
    }
    if (where.offset >= it->second.bytes()) {
      return internal_error("shm: rank {}'s buffer {} has {} bytes, offset {} is outside it", peer, where.segment, it->second.bytes(), where.offset);
    }
    return it->second.data() + where.offset;
  }

  StatusOr<CommBuffer> allocate(int64_t bytes) override {
    if (bytes < 0) return invalid_argument_error("shm: allocate: {} bytes is negative", bytes);
    uint64_t id;
    {
      std::lock_guard lock(registry_->mutex);
      id = registry_->next_id++;
    }
    const std::string name = buffer_name(rank_, id);
    TESSERA_ASSIGN_OR_RETURN(Mapping m, create_segment(name, static_cast<size_t>(bytes)));
    char* data = m.data();
    {
      std::lock_guard lock(registry_->mutex);
      registry_->by_base[reinterpret_cast<uintptr_t>(data)] = {id, bytes};
    }
    // The name goes when the buffer does; peers that mapped it keep their mapping until they close.
    auto holder = std::make_shared<Mapping>(std::move(m));
    return CommBuffer(data, bytes, [holder, registry = registry_, name, data] {
      {
        std::lock_guard lock(registry->mutex);
        registry->by_base.erase(reinterpret_cast<uintptr_t>(data));
      }
      shm_unlink(name.c_str());
    });
  }

  StatusOr<std::unique_ptr<GroupTransport>> split(const std::vector<int>& members, int my_index, uint64_t split_id,
                                                  CommClock::time_point deadline) override {
    const std::string prefix = fmt::format("{}s{}_{}", prefix_, split_id, members.front());
    TESSERA_ASSIGN_OR_RETURN(auto t, open(prefix, my_index, static_cast<int>(members.size()), my_index == 0, shm_, deadline));
    return std::unique_ptr<GroupTransport>(std::move(t));
  }

  void attached() override {
    if (owns_name_) shm_unlink((prefix_ + "-a").c_str());
    owns_name_ = false;
  }

 private:
  std::string buffer_name(int rank, uint64_t id) const { return fmt::format("{}-r{}b{}", prefix_, rank, id); }

  std::string prefix_;
  int rank_;
  Mapping arena_;
  ArenaLayout layout_;
  bool owns_name_;
  ShmOptions shm_;
  std::shared_ptr<BufferRegistry> registry_;
  std::map<std::pair<int, uint64_t>, Mapping> peer_buffers_;  // progress thread only
};

std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  return h;
}

}  // namespace

StatusOr<HostLayout> detect_hosts(Communicator& bootstrap) {
  const int p = bootstrap.size(), me = bootstrap.rank();
  char hostname[256] = {};
  gethostname(hostname, sizeof(hostname) - 1);
  // Candidates only: ranks with another key are surely elsewhere; ranks with the same key must still
  // prove that they see the same /dev/shm.
  const uint64_t key = fnv1a(std::string(hostname) + "|" + read_first_line("/proc/sys/kernel/random/boot_id"));
  std::vector<uint64_t> keys(static_cast<size_t>(p));
  TESSERA_RETURN_IF_ERROR(bootstrap.all_gather_bytes(&key, keys.data(), sizeof(key)));

  // Probe record: segment name (47 chars + NUL) and token (32 hex chars + NUL, padded).
  struct Probe {
    char name[48];
    char token[48];
  };
  std::vector<int> leader_of(static_cast<size_t>(p), -1);
  std::vector<std::string> token_of(static_cast<size_t>(p));
  for (int round = 0; std::count(leader_of.begin(), leader_of.end(), -1) > 0; ++round) {
    auto candidate_leader = [&](int q) {
      for (int l = 0; l < p; ++l) {
        if (leader_of[l] == -1 && keys[l] == keys[q]) return l;
      }
      return q;
    };
    const bool unassigned = leader_of[me] == -1;
    const bool leading = unassigned && candidate_leader(me) == me;
    Probe mine{};
    std::optional<Mapping> probe;
    std::string probe_name;
    if (leading) {
      TESSERA_ASSIGN_OR_RETURN(std::string id, random_hex(8));
      TESSERA_ASSIGN_OR_RETURN(std::string token, random_hex(16));
      probe_name = "/tessera-probe-" + id;
      TESSERA_ASSIGN_OR_RETURN(Mapping m, create_segment(probe_name, 64));
      std::memcpy(m.data(), token.c_str(), token.size() + 1);
      probe = std::move(m);
      std::snprintf(mine.name, sizeof(mine.name), "%s", probe_name.c_str());
      std::snprintf(mine.token, sizeof(mine.token), "%s", token.c_str());
    }
    std::vector<Probe> probes(static_cast<size_t>(p));
    TESSERA_RETURN_IF_ERROR(bootstrap.all_gather_bytes(&mine, probes.data(), sizeof(Probe)));
    // 2: leads a group this round; 1: saw its candidate leader's token; 0: did not (or already assigned).
    int32_t verdict = leading ? 2 : 0;
    if (unassigned && !leading) {
      const Probe& lead = probes[candidate_leader(me)];
      auto seen = open_segment(lead.name);
      if (seen.ok() && std::strncmp(seen->data(), lead.token, 32) == 0) verdict = 1;
    }
    std::vector<int32_t> verdicts(static_cast<size_t>(p));
    TESSERA_RETURN_IF_ERROR(bootstrap.all_gather_bytes(&verdict, verdicts.data(), sizeof(verdict)));
    if (leading) shm_unlink(probe_name.c_str());
    std::vector<int> leaders_this_round(static_cast<size_t>(p));
    for (int q = 0; q < p; ++q) leaders_this_round[q] = candidate_leader(q);
    for (int q = 0; q < p; ++q) {
      if (leader_of[q] != -1 || verdicts[q] == 0) continue;
      const int l = verdicts[q] == 2 ? q : leaders_this_round[q];
      leader_of[q] = l;
      token_of[q] = probes[l].token;
    }
    if (round > p) return internal_error("shm: host detection did not converge after {} rounds", round);
  }

  HostLayout layout;
  std::vector<int> leaders;
  for (int q = 0; q < p; ++q) {
    if (leader_of[q] == q) leaders.push_back(q);
  }
  layout.hosts = static_cast<int>(leaders.size());
  layout.host_of_rank.resize(static_cast<size_t>(p));
  for (int q = 0; q < p; ++q) {
    layout.host_of_rank[q] = static_cast<int>(std::find(leaders.begin(), leaders.end(), leader_of[q]) - leaders.begin());
  }
  layout.host = layout.host_of_rank[me];
  layout.local_size = static_cast<int>(std::count(layout.host_of_rank.begin(), layout.host_of_rank.end(), layout.host));
  layout.local_rank = static_cast<int>(std::count(layout.host_of_rank.begin(), layout.host_of_rank.begin() + me, layout.host));
  layout.token = token_of[me];
  return layout;
}

StatusOr<std::string> shm_tag_from_environment() {
  const char* value = std::getenv(kShmTagEnvVar);
  if (value == nullptr) return std::string();
  const std::string tag = value;
  const bool valid = !tag.empty() && tag.size() <= 32 &&
                     std::all_of(tag.begin(), tag.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
  if (!valid) return invalid_argument_error("{}='{}': expected 1 to 32 letters and digits", kShmTagEnvVar, tag);
  return tag;
}

StatusOr<std::unique_ptr<Communicator>> make_shm_communicator(Communicator& bootstrap, CommOptions options, const ShmOptions& shm) {
  if (shm.block_bytes < 4096 || shm.block_bytes % 64 != 0 || shm.slots < 2 || shm.p2p_slot_bytes < 64) {
    return invalid_argument_error("shm: block_bytes {} (expected a multiple of 64, ≥ 4096), slots {} (≥ 2), p2p_slot_bytes {} (≥ 64)",
                                  shm.block_bytes, shm.slots, shm.p2p_slot_bytes);
  }
  TESSERA_ASSIGN_OR_RETURN(HostLayout hosts, detect_hosts(bootstrap));
  if (hosts.hosts != 1) {
    return failed_precondition_error("shm on axis '{}': its {} ranks are on {} hosts (no shared /dev/shm between them); hint: backend hier or mpi",
                                     options.name, bootstrap.size(), hosts.hosts);
  }
  // Segment names: /tessera-[TAG-]TOKEN..., TAG from TESSERA_SHM_TAG (shm_communicator.h).
  TESSERA_ASSIGN_OR_RETURN(const std::string tag, shm_tag_from_environment());
  const std::string prefix = "/tessera-" + (tag.empty() ? "" : tag + "-") + hosts.token;
  const auto deadline = CommClock::now() + options.deadline;
  const bool create = bootstrap.rank() == 0;
  StatusOr<std::unique_ptr<ShmTransport>> transport =
      create ? ShmTransport::open(prefix, 0, bootstrap.size(), true, shm, deadline) : Status(StatusCode::kUnavailable, "");
  // Rank 0 lays the arena out before anyone else looks for it; every rank learns whether that worked.
  int32_t created = create ? (transport.ok() ? 1 : 0) : 0;
  TESSERA_RETURN_IF_ERROR(bootstrap.broadcast(&created, sizeof(created), 0));
  if (!created) {
    return create ? transport.status() : unavailable_error("shm on axis '{}': rank 0 could not create the arena", options.name);
  }
  if (!create) transport = ShmTransport::open(prefix, bootstrap.rank(), bootstrap.size(), false, shm, deadline);
  int64_t all_ok = transport.ok() ? 1 : 0;
  TESSERA_RETURN_IF_ERROR(bootstrap.all_reduce(&all_ok, 1, ReduceOp::kMin));
  if (!transport.ok()) return transport.status();
  if (all_ok == 0) return unavailable_error("shm on axis '{}': another rank could not attach to the arena", options.name);
  // Every rank has mapped the arena: its name can go (nothing is left behind in /dev/shm if a rank dies).
  (*transport)->attached();
  ShmTransport* raw = transport->release();
  return make_group_communicator(bootstrap.rank(), bootstrap.size(), std::unique_ptr<GroupTransport>(raw), std::move(options));
}

}  // namespace tessera
