// CommHandle: the completion of one asynchronous communication operation. Move-only.
//   wait()  blocks until the operation finished (or its deadline passed) and returns its Status; calling
//           it again returns the same Status at once;
//   test()  makes progress where the backend needs the caller to, and says whether it finished.
// A handle destroyed before it finished waits in its destructor (the buffers are in use until then); the
// error, if any, stays recorded in the communicator, whose next call returns it.
#pragma once

#include <memory>

#include "tessera/core/status.h"

namespace tessera {

// What a backend puts behind a handle.
class PendingOp {
 public:
  virtual ~PendingOp() = default;
  virtual bool test() = 0;
  virtual Status wait() = 0;
};

class CommHandle {
 public:
  CommHandle() = default;  // finished, OK
  explicit CommHandle(Status finished) : status_(std::move(finished)) {}
  explicit CommHandle(std::unique_ptr<PendingOp> op) : op_(std::move(op)) {}
  CommHandle(CommHandle&& other) noexcept = default;
  CommHandle& operator=(CommHandle&& other) noexcept;
  CommHandle(const CommHandle&) = delete;
  CommHandle& operator=(const CommHandle&) = delete;
  ~CommHandle();

  Status wait();
  bool test();

 private:
  std::unique_ptr<PendingOp> op_;  // null once finished
  Status status_;
};

}  // namespace tessera
