#include "tessera/core/status.h"

#include <gtest/gtest.h>

namespace tessera {
namespace {

StatusOr<int> parse_positive(int x) {
  if (x <= 0) return invalid_argument_error("expected a positive value, found {}", x);
  return x;
}

Status twice_positive(int x, int* out) {
  TESSERA_ASSIGN_OR_RETURN(int value, parse_positive(x));
  *out = 2 * value;
  return Status();
}

TEST(Status, ContextIsPrependedAndOkStaysOk) {
  EXPECT_TRUE(Status().with_context("ignored").ok());
  const Status s = data_loss_error("bad checksum").with_context("shard 'a.bin'");
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "shard 'a.bin': bad checksum");
}

TEST(StatusOr, AssignOrReturnPropagatesErrors) {
  int out = 0;
  EXPECT_TRUE(twice_positive(4, &out).ok());
  EXPECT_EQ(out, 8);
  const Status s = twice_positive(-1, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "expected a positive value, found -1");
}

}  // namespace
}  // namespace tessera
