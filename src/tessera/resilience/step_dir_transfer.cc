#include "tessera/resilience/step_dir_transfer.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "tessera/ckpt/step_dir_listing.h"
#include "tessera/core/file.h"

namespace tessera {

namespace {

// Runs every handle to completion and returns the first error (all are waited for, so no buffer is released
// while a transfer into or out of it is still in flight).
Status wait_all(std::vector<CommHandle>& handles) {
  Status first;
  for (CommHandle& handle : handles) {
    Status status = handle.wait();
    if (first.ok() && !status.ok()) first = std::move(status);
  }
  handles.clear();
  return first;
}

}  // namespace

Status exchange_step_dirs(Communicator& comm, const std::string& send_dir, int to, const std::string& receive_dir,
                          int from, int tag) {
  // The sender's side: its listing and a mapping of every file (none when there is nothing to send).
  std::string listing_out;
  std::vector<MappedFile> mapped;
  Status send_problem;
  if (to >= 0 && !send_dir.empty()) {
    StatusOr<std::vector<StepDirFile>> files = list_step_dir(send_dir);
    send_problem = files.status();
    for (size_t i = 0; send_problem.ok() && i < files->size(); ++i) {
      StatusOr<MappedFile> file = MappedFile::open(send_dir + "/" + (*files)[i].name);
      send_problem = file.status();
      if (send_problem.ok() && file->size() != (*files)[i].size) {
        send_problem = data_loss_error("'{}' changed size while it was sent", file->path());
      }
      if (send_problem.ok()) mapped.push_back(std::move(file).value());
    }
    if (send_problem.ok()) {
      listing_out = encode_step_dir_listing(*files);
    } else {
      mapped.clear();
    }
  }
  // 1. The listings: their sizes, then their bytes (0 = nothing to send).
  int64_t size_out = static_cast<int64_t>(listing_out.size()), size_in = 0;
  std::vector<CommHandle> handles;
  if (from >= 0) handles.push_back(comm.recv_async(&size_in, sizeof(size_in), from, tag));
  if (to >= 0) handles.push_back(comm.send_async(&size_out, sizeof(size_out), to, tag));
  TESSERA_RETURN_IF_ERROR(wait_all(handles).with_context("step directory listing"));
  std::string listing_in(static_cast<size_t>(size_in), '\0');
  if (from >= 0 && size_in > 0) handles.push_back(comm.recv_async(listing_in.data(), size_in, from, tag + 1));
  if (to >= 0 && size_out > 0) handles.push_back(comm.send_async(listing_out.data(), size_out, to, tag + 1));
  TESSERA_RETURN_IF_ERROR(wait_all(handles).with_context("step directory listing"));

  // 2. The receiver's side: every file created at its size and mapped (or, if that fails, a buffer to drop).
  std::vector<StepDirFile> incoming;
  std::vector<WritableMappedFile> targets;
  std::vector<std::unique_ptr<uint8_t[]>> dropped;
  Status receive_problem;
  const std::string tmp = receive_dir + ".tmp";
  if (from >= 0 && size_in > 0) {
    StatusOr<std::vector<StepDirFile>> decoded = decode_step_dir_listing(listing_in);
    if (!decoded.ok()) return decoded.status().with_context(fmt::format("from rank {}", from));
    incoming = std::move(decoded).value();
    std::error_code ec;
    if (std::filesystem::exists(receive_dir, ec)) {
      receive_problem = failed_precondition_error("'{}' exists already", receive_dir);
    } else {
      std::filesystem::remove_all(tmp, ec);
      receive_problem = make_directories(tmp);
    }
    for (const StepDirFile& file : incoming) {
      if (receive_problem.ok()) {
        StatusOr<WritableMappedFile> target = WritableMappedFile::create(tmp + "/" + file.name, file.size);
        receive_problem = target.status();
        if (receive_problem.ok()) targets.push_back(std::move(target).value());
      }
      if (!receive_problem.ok()) dropped.push_back(std::make_unique_for_overwrite<uint8_t[]>(file.size));
    }
  }
  // 3. Every file's bytes, one message each, straight between the mappings.
  for (size_t i = 0; i < incoming.size(); ++i) {
    if (incoming[i].size == 0) continue;
    uint8_t* into = i < targets.size() ? targets[i].data() : dropped[i - targets.size()].get();
    handles.push_back(comm.recv_async(into, static_cast<int64_t>(incoming[i].size), from, tag + 2 + static_cast<int>(i)));
  }
  for (size_t i = 0; i < mapped.size(); ++i) {
    if (mapped[i].size() == 0) continue;
    handles.push_back(comm.send_async(mapped[i].data(), static_cast<int64_t>(mapped[i].size()), to, tag + 2 + static_cast<int>(i)));
  }
  TESSERA_RETURN_IF_ERROR(wait_all(handles).with_context(fmt::format("step directory '{}'", send_dir.empty() ? receive_dir : send_dir)));
  targets.clear();  // unmapped: the files hold the bytes
  TESSERA_RETURN_IF_ERROR(send_problem.with_context(fmt::format("sending '{}' to rank {}", send_dir, to)));
  if (from < 0) return Status();
  if (size_in == 0) return failed_precondition_error("rank {} had no step directory to send", from);
  std::error_code ec;
  if (!receive_problem.ok()) {
    std::filesystem::remove_all(tmp, ec);
    return receive_problem.with_context(fmt::format("receiving from rank {}", from));
  }
  std::filesystem::rename(tmp, receive_dir, ec);
  if (ec) {
    std::filesystem::remove_all(tmp, ec);
    return io_error("cannot rename '{}' to '{}': {}", tmp, receive_dir, ec.message());
  }
  return Status();
}

}  // namespace tessera
