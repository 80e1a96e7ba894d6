// ABFT checksums (abft_backend.h): every clean matmul of the fp32 and bf16 backends, forward and backward, at
// the shapes Tessera trains, passes its column checksums; one output element off by a factor of two fails
// them (the largest output: abft_backend.h says which faults are within the tolerance), naming the matmul;
// with checking off nothing is counted.
#include "tessera/kernels/abft_backend.h"

#include <gtest/gtest.h>

#include <vector>

#include "tessera/kernels/kernels_test_util.h"

namespace tessera {
namespace {

using kernels_test::random_floats;
using Output = AbftBackend::MatmulOutput;

struct Shape {
  int64_t N, C, OC;
};
constexpr Shape kShapes[] = {{128, 64, 192}, {512, 64, 256}, {2048, 384, 1536}};

std::unique_ptr<AbftBackend> wrap(const std::string& name, MatmulPrecision precision) {
  auto inner = make_kernel_backend(name, KernelOptions{.matmul_precision = precision});
  if (!inner.ok()) return nullptr;
  auto abft = std::make_unique<AbftBackend>(std::move(*inner), precision);
  abft->set_checking(true);
  return abft;
}

// One forward and one backward (gradients accumulating into a non-zero dweight) at `shape`.
void run_matmuls(AbftBackend& k, const Shape& s) {
  const auto inp = random_floats(s.N * s.C, 1), weight = random_floats(s.OC * s.C, 2, -0.1f, 0.1f);
  const auto bias = random_floats(s.OC, 3), dout = random_floats(s.N * s.OC, 4, -0.01f, 0.01f);
  std::vector<float> out(s.N * s.OC), dinp(s.N * s.C);
  auto dweight = random_floats(s.OC * s.C, 5, -0.01f, 0.01f);
  std::vector<float> dbias(s.OC);
  k.matmul_forward(out.data(), inp.data(), weight.data(), bias.data(), s.N, s.C, s.OC);
  k.matmul_backward(dinp.data(), dweight.data(), dbias.data(), dout.data(), inp.data(), weight.data(), s.N, s.C, s.OC);
}

TEST(Abft, CleanMatmulsPassAtEveryShapeOnEveryBackendAndPrecision) {
  for (const char* name : {"ref", "fast"}) {
    for (const MatmulPrecision precision : {MatmulPrecision::kFp32, MatmulPrecision::kBf16}) {
      auto k = wrap(name, precision);
      if (!k) continue;  // no bf16 matmul on this CPU
      for (const Shape& s : kShapes) {
        if (std::string(name) == "ref" && s.N > 512) continue;  // the ref loops are slow; fast covers it
        run_matmuls(*k, s);
        const AbftReport report = k->take_report();
        EXPECT_EQ(report.checked, 2);
        EXPECT_EQ(report.failed, 0) << name << " bf16=" << (precision == MatmulPrecision::kBf16) << ": "
                                    << report.first_failure;
      }
    }
  }
}

TEST(Abft, OneElementOffByTwoIsCaughtInEachOutput) {
  for (const MatmulPrecision precision : {MatmulPrecision::kFp32, MatmulPrecision::kBf16}) {
    auto k = wrap("fast", precision);
    if (!k) continue;
    for (const Output which : {Output::kForward, Output::kInputGradient, Output::kWeightGradient}) {
      for (const Shape& s : kShapes) {
        k->corrupt_next_matmul(which);
        run_matmuls(*k, s);
        const AbftReport report = k->take_report();
        EXPECT_EQ(report.failed, 1) << "output " << static_cast<int>(which) << " at N=" << s.N;
        const char* expected = which == Output::kForward         ? "matmul_forward ["
                               : which == Output::kInputGradient ? "matmul_backward dinp ["
                                                                 : "matmul_backward dweight [";
        EXPECT_NE(report.first_failure.find(expected), std::string::npos) << report.first_failure;
      }
    }
  }
}

TEST(Abft, NothingIsCheckedWhileCheckingIsOffButTheFaultStillLands) {
  auto k = wrap("fast", MatmulPrecision::kFp32);
  ASSERT_TRUE(k);
  k->set_checking(false);
  const Shape s = kShapes[0];
  const auto inp = random_floats(s.N * s.C, 1), weight = random_floats(s.OC * s.C, 2);
  std::vector<float> clean(s.N * s.OC), corrupt(s.N * s.OC);
  k->matmul_forward(clean.data(), inp.data(), weight.data(), nullptr, s.N, s.C, s.OC);
  k->corrupt_next_matmul();
  k->matmul_forward(corrupt.data(), inp.data(), weight.data(), nullptr, s.N, s.C, s.OC);
  int differ = 0;
  for (size_t i = 0; i < clean.size(); ++i) differ += clean[i] != corrupt[i];
  EXPECT_EQ(differ, 1);
  EXPECT_EQ(k->take_report().checked, 0);
}

}  // namespace
}  // namespace tessera
