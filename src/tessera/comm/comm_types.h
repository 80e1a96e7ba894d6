// The vocabulary every Communicator backend shares: element types, reduction operators, the kinds of
// operation (for errors and the flight recorder) and the options a communicator is built with.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace tessera {

enum class ReduceOp : uint8_t { kSum, kMax, kMin };

// Element types of collectives. kBytes moves raw bytes (fingerprints, configs) and cannot be reduced.
enum class DataType : uint8_t { kFloat32, kFloat64, kInt32, kInt64, kUint64, kBytes };

enum class CommOpKind : uint8_t { kAllReduce, kReduceScatter, kAllGather, kBroadcast, kBarrier, kSend, kRecv, kSplit };

class CommStallNotices;  // comm_stall.h

int64_t dtype_size(DataType type);
const char* dtype_name(DataType type);
const char* reduce_op_name(ReduceOp op);
const char* comm_op_name(CommOpKind op);

// How a communicator behaves; every backend honours every field.
struct CommOptions {
  // The axis this group spans ("world", "dp", "tp", "pp", "host", ...): named in every error and dump.
  std::string name = "world";
  // Longest a blocking call (or a handle's wait()) waits for its peers before it returns
  // kDeadlineExceeded naming the rank(s) that did not arrive. Counted from when the operation starts.
  std::chrono::milliseconds deadline{std::chrono::minutes(10)};
  // Where the flight recorder writes `flight_<axis>_rank<r>.txt` on a deadline or error; empty: nowhere.
  std::string flight_recorder_dir;
  // How many of the most recent operations the flight recorder keeps.
  int flight_recorder_entries = 128;
  // Where an operation that has waited longer than `stall_notice_after` for its peers is reported
  // (comm_stall.h), so that a supervisor can tell the waiting ranks from the one they wait for; null: nowhere.
  std::shared_ptr<CommStallNotices> stall_notices;
  std::chrono::milliseconds stall_notice_after{1000};
};

}  // namespace tessera
