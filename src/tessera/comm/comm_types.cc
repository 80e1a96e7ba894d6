#include "tessera/comm/comm_types.h"

namespace tessera {

int64_t dtype_size(DataType type) {
  switch (type) {
    case DataType::kFloat32: return 4;
    case DataType::kFloat64: return 8;
    case DataType::kInt32: return 4;
    case DataType::kInt64: return 8;
    case DataType::kUint64: return 8;
    case DataType::kBytes: return 1;
  }
  return 1;
}

const char* dtype_name(DataType type) {
  switch (type) {
    case DataType::kFloat32: return "float32";
    case DataType::kFloat64: return "float64";
    case DataType::kInt32: return "int32";
    case DataType::kInt64: return "int64";
    case DataType::kUint64: return "uint64";
    case DataType::kBytes: return "bytes";
  }
  return "?";
}

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kMax: return "max";
    case ReduceOp::kMin: return "min";
  }
  return "?";
}

const char* comm_op_name(CommOpKind op) {
  switch (op) {
    case CommOpKind::kAllReduce: return "all_reduce";
    case CommOpKind::kReduceScatter: return "reduce_scatter";
    case CommOpKind::kAllGather: return "all_gather";
    case CommOpKind::kBroadcast: return "broadcast";
    case CommOpKind::kBarrier: return "barrier";
    case CommOpKind::kSend: return "send";
    case CommOpKind::kRecv: return "recv";
    case CommOpKind::kSplit: return "split";
  }
  return "?";
}

}  // namespace tessera
