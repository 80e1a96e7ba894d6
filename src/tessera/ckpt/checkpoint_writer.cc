#include "tessera/ckpt/checkpoint_writer.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tessera/core/file.h"
#include "tessera/core/hash.h"

namespace tessera {

namespace {

namespace fs = std::filesystem;

std::string os_reason() { return std::strerror(errno); }

// The injected fault of a save (write_fault.h): options.write_fault, else TESSERA_FAULT, else none.
StatusOr<std::optional<WriteFault>> resolve_write_fault(const CheckpointWriteOptions& options) {
  if (options.write_fault) return options.write_fault;
  return write_fault_from_env();
}

// A file opened for writing; closes on destruction. Move-only. `fault`, if it matches the path, makes
// a write or the fsync fail as the disk would (the bytes before the fault point are really written).
class OutputFile {
 public:
  static StatusOr<OutputFile> create(const std::string& path, const std::optional<WriteFault>& fault = {}) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return io_error("cannot create '{}': {}", path, os_reason());
    OutputFile file(fd, path);
    if (fault && fault->matches(path)) file.fault_ = fault;
    return file;
  }
  OutputFile(OutputFile&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)),
        path_(std::move(other.path_)),
        written_(other.written_),
        started_(other.started_),
        fault_(std::move(other.fault_)) {}
  OutputFile& operator=(OutputFile&&) = delete;
  ~OutputFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  Status write(const void* data, size_t size) {
    const auto* bytes = static_cast<const char*>(data);
    if (fault_ && fault_->op == WriteFault::Op::kWrite && written_ + size > fault_->after_bytes) {
      // The disk fills (or fails) after_bytes into the file: what fits is written, then the error.
      const uint64_t fits = fault_->after_bytes > written_ ? fault_->after_bytes - written_ : 0;
      TESSERA_RETURN_IF_ERROR(write_all(bytes, fits));
      return io_error("cannot write '{}': {} (injected fault, {})", path_, std::strerror(fault_->error_number()),
                      kFaultEnvVar);
    }
    return write_all(bytes, size);
  }
  // fsync then close: the bytes are durable once this returns OK.
  Status sync_and_close() {
    const bool injected = fault_ && fault_->op == WriteFault::Op::kFsync;
    const bool synced = !injected && ::fsync(fd_) == 0;
    const std::string reason = injected ? fmt::format("{} (injected fault, {})", std::strerror(fault_->error_number()),
                                                      kFaultEnvVar)
                               : synced ? ""
                                        : os_reason();
    const bool closed = ::close(std::exchange(fd_, -1)) == 0;
    if (!synced) return io_error("cannot fsync '{}': {}", path_, reason);
    if (!closed) return io_error("cannot close '{}': {}", path_, os_reason());
    return Status();
  }
  uint64_t written() const { return written_; }

 private:
  OutputFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  Status write_all(const char* bytes, size_t size) {
    while (size > 0) {
      const ssize_t n = ::write(fd_, bytes, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_error("cannot write '{}': {}", path_, os_reason());
      }
      bytes += n;
      size -= static_cast<size_t>(n);
      written_ += static_cast<uint64_t>(n);
      start_writeback();
    }
    return Status();
  }

  // Write-behind: every kWriteBehindBytes the kernel is asked to start writing the new range to the disk
  // (without waiting), so the disk works while the next chunks are checksummed and copied, and the final
  // fsync waits only for the tail. An error here is the fsync's to report.
  void start_writeback() {
    static constexpr uint64_t kWriteBehindBytes = 8u << 20;
    if (written_ - started_ < kWriteBehindBytes) return;
    (void)::sync_file_range(fd_, static_cast<off64_t>(started_), static_cast<off64_t>(written_ - started_),
                            SYNC_FILE_RANGE_WRITE);
    started_ = written_;
  }

  int fd_ = -1;
  std::string path_;
  uint64_t written_ = 0;
  uint64_t started_ = 0;  // bytes handed to the disk by start_writeback
  std::optional<WriteFault> fault_;  // set only when an injected fault targets this file
};

Status write_durable(const std::string& path, std::string_view bytes, const std::optional<WriteFault>& fault) {
  TESSERA_ASSIGN_OR_RETURN(OutputFile file, OutputFile::create(path, fault));
  TESSERA_RETURN_IF_ERROR(file.write(bytes.data(), bytes.size()));
  return file.sync_and_close();
}

// Moves the finished tmp directory to its committed name and makes that durable. If a checkpoint of
// the same step exists (a run resumed from an older step saves this step again), the two are exchanged
// atomically (renameat2 RENAME_EXCHANGE) so that a crash leaves one of the two complete; the old one,
// now under the tmp name that readers ignore, is removed only after the exchange is durable.
Status commit_rename(const std::string& tmp_dir, const std::string& final_dir, const std::string& parent) {
  if (::rename(tmp_dir.c_str(), final_dir.c_str()) == 0) return fsync_directory(parent);
  if (errno != ENOTEMPTY && errno != EEXIST) {
    return io_error("cannot rename '{}' to '{}': {}", tmp_dir, final_dir, os_reason());
  }
  if (::renameat2(AT_FDCWD, tmp_dir.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) != 0) {
    return io_error("cannot replace the existing '{}' with '{}': {}; hint: remove the old checkpoint", final_dir,
                    tmp_dir, os_reason());
  }
  TESSERA_RETURN_IF_ERROR(fsync_directory(parent));
  std::error_code error;
  fs::remove_all(tmp_dir, error);
  if (error) return io_error("cannot remove the replaced checkpoint '{}': {}", tmp_dir, error.message());
  return Status();
}

Status stop_at(const CheckpointWriteOptions& options, CommitPoint point, bool* crashed) {
  Status status = options.stop_after ? options.stop_after(point) : Status();
  *crashed = !status.ok();
  return status;
}

// The protocol after the tmp directory exists. *crashed is set when a stop_after hook stopped it.
Status write_steps(const SnapshotWriter& snapshot, int64_t step, const std::string& tmp_dir,
                   const std::string& final_dir, const std::string& checkpoints_dir,
                   const CheckpointWriteOptions& options, bool* crashed) {
  Manifest manifest;
  manifest.step = step;
  manifest.created_unix_s = snapshot.created_unix_s();
  manifest.metadata = snapshot.metadata();
  manifest.scalars = snapshot.scalars();
  TESSERA_RETURN_IF_ERROR(write_data_file(snapshot, tmp_dir, data_file_name(options.rank), &manifest, options));
  TESSERA_RETURN_IF_ERROR(stop_at(options, CommitPoint::kDataWritten, crashed));
  return commit_step_dir(manifest, tmp_dir, final_dir, checkpoints_dir, options, crashed);
}

}  // namespace

StatusOr<std::string> write_checkpoint(const SnapshotWriter& snapshot, int64_t step,
                                       const std::string& checkpoints_dir, const CheckpointWriteOptions& options) {
  const std::string final_dir = checkpoints_dir + "/" + step_dir_name(step);
  const std::string tmp_dir = final_dir + std::string(kTmpDirSuffix);
  auto prepare = [&]() -> Status {
    TESSERA_RETURN_IF_ERROR(snapshot.finish());
    TESSERA_RETURN_IF_ERROR(make_directories(checkpoints_dir));
    std::error_code error;
    fs::remove_all(tmp_dir, error);  // left by a crashed attempt at this step
    if (error) return io_error("cannot remove stale '{}': {}", tmp_dir, error.message());
    if (!fs::create_directory(tmp_dir, error) || error) {
      return io_error("cannot create '{}': {}", tmp_dir, error ? error.message() : "it exists");
    }
    return Status();
  };
  const std::string context = fmt::format("checkpoint step {}", step);
  TESSERA_RETURN_IF_ERROR(prepare().with_context(context));
  bool crashed = false;
  Status status = write_steps(snapshot, step, tmp_dir, final_dir, checkpoints_dir, options, &crashed);
  if (!status.ok()) {
    // A failed write (disk full, ...) removes its partial directory; a simulated crash cannot.
    std::error_code error;
    if (!crashed) fs::remove_all(tmp_dir, error);
    return status.with_context(context);
  }
  return final_dir;
}

Status write_data_file(const SnapshotWriter& snapshot, const std::string& dir, const std::string& file_name,
                       Manifest* manifest, const CheckpointWriteOptions& options) {
  TESSERA_ASSIGN_OR_RETURN(const std::optional<WriteFault> fault, resolve_write_fault(options));
  TESSERA_ASSIGN_OR_RETURN(OutputFile file, OutputFile::create(dir + "/" + file_name, fault));
  static constexpr char kZeros[kChunkAlignment] = {};
  for (const SnapshotWriter::Tensor& tensor : snapshot.tensors()) {
    TensorEntry entry{tensor.name, tensor.dtype, tensor.shape, {}};
    for (const SnapshotWriter::Chunk& chunk : tensor.chunks) {
      const uint64_t padding = (kChunkAlignment - file.written() % kChunkAlignment) % kChunkAlignment;
      TESSERA_RETURN_IF_ERROR(file.write(kZeros, padding));
      entry.chunks.push_back(ChunkEntry{chunk.offset, chunk.shape, file_name, file.written(), chunk.nbytes,
                                        hash_bytes(chunk.data(), chunk.nbytes)});
      TESSERA_RETURN_IF_ERROR(file.write(chunk.data(), chunk.nbytes));
    }
    manifest->tensors.push_back(std::move(entry));
  }
  manifest->data_files.push_back(DataFileEntry{file_name, file.written()});
  return file.sync_and_close();
}

Status commit_step_dir(const Manifest& manifest, const std::string& tmp_dir, const std::string& final_dir,
                       const std::string& checkpoints_dir, const CheckpointWriteOptions& options, bool* crashed) {
  TESSERA_ASSIGN_OR_RETURN(const std::optional<WriteFault> fault, resolve_write_fault(options));
  const std::string manifest_text = manifest_to_json(manifest);
  TESSERA_RETURN_IF_ERROR(write_durable(tmp_dir + "/" + std::string(kManifestFileName), manifest_text, fault));
  TESSERA_RETURN_IF_ERROR(stop_at(options, CommitPoint::kManifestWritten, crashed));

  TESSERA_RETURN_IF_ERROR(write_durable(tmp_dir + "/" + std::string(kCommitFileName),
                                        commit_marker_text(hash_bytes(manifest_text)), fault));
  TESSERA_RETURN_IF_ERROR(fsync_directory(tmp_dir));
  TESSERA_RETURN_IF_ERROR(stop_at(options, CommitPoint::kCommitWritten, crashed));

  TESSERA_RETURN_IF_ERROR(commit_rename(tmp_dir, final_dir, checkpoints_dir));
  return stop_at(options, CommitPoint::kRenamed, crashed);
}

}  // namespace tessera
