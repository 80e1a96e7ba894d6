#include "tessera/kernels/abft_backend.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "tessera/kernels/bf16.h"

namespace tessera {

AbftBackend::AbftBackend(std::unique_ptr<KernelBackend> inner, MatmulPrecision precision)
    : inner_(std::move(inner)), bf16_(precision == MatmulPrecision::kBf16) {}

AbftReport AbftBackend::take_report() {
  AbftReport report = std::move(report_);
  report_ = AbftReport{};
  return report;
}

void AbftBackend::maybe_corrupt(MatmulOutput which, float* data, int64_t count) {
  if (corrupt_next_ != which || count <= 0) return;
  corrupt_next_.reset();
  int64_t largest = 0;  // the fault lands on the output of largest magnitude
  for (int64_t i = 1; i < count; ++i) {
    if (std::abs(data[i]) > std::abs(data[largest])) largest = i;
  }
  data[largest] = std::bit_cast<float>(std::bit_cast<uint32_t>(data[largest]) ^ (1u << 23));
}

void AbftBackend::verify(const char* what, int64_t N, int64_t C, int64_t OC, int64_t index, double actual,
                         double expected, double bound) {
  const double error = std::abs(actual - expected);
  if (!(error > kRelTolerance * bound)) return;  // NaN compares false: a NaN sum is a failure below
  if (report_.failed++ == 0) {
    report_.first_failure = fmt::format(
        "{} [N={}, C={}, OC={}]: column {} sums to {:.9g}, the checksum says {:.9g} (difference {:.3g}, {:.2g} of the "
        "absolute sum; tolerance {:.0e})",
        what, N, C, OC, index, actual, expected, error, bound > 0 ? error / bound : INFINITY, kRelTolerance);
  }
}

namespace {

constexpr int64_t kColumnBlock = 256;  // columns per OpenMP work item (each walks every row)

// An operand as a matmul of `precision` sees it.
inline double seen(float x, bool bf16) { return bf16 ? bf16::round(x) : x; }

// sum[c] = Σ_r m[r,c], abs_sum[c] = Σ_r |m[r,c]| (abs_sum may be null), over m[rows, cols].
void column_sums(const float* m, int64_t rows, int64_t cols, bool bf16, std::vector<double>& sum,
                 std::vector<double>* abs_sum) {
  sum.assign(static_cast<size_t>(cols), 0.0);
  if (abs_sum != nullptr) abs_sum->assign(static_cast<size_t>(cols), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < cols; c0 += kColumnBlock) {
    const int64_t c1 = std::min(cols, c0 + kColumnBlock);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = c0; c < c1; ++c) {
        const double x = seen(m[r * cols + c], bf16);
        sum[c] += x;
        if (abs_sum != nullptr) (*abs_sum)[c] += std::abs(x);
      }
    }
  }
}

// out[r] = Σ_c m[r,c]·v[c], bound[r] = Σ_c |m[r,c]|·v_abs[c]   (a matrix-vector product and its bound).
void row_dots(const float* m, int64_t rows, int64_t cols, bool bf16, const std::vector<double>& v,
              const std::vector<double>& v_abs, std::vector<double>& out, std::vector<double>& bound) {
  out.assign(static_cast<size_t>(rows), 0.0);
  bound.assign(static_cast<size_t>(rows), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0, b = 0;
    for (int64_t c = 0; c < cols; ++c) {
      const double x = seen(m[r * cols + c], bf16);
      s += x * v[c], b += std::abs(x) * v_abs[c];
    }
    out[r] = s, bound[r] = b;
  }
}

// out[c] += Σ_r w[r]·m[r,c], bound[c] += Σ_r w_abs[r]·|m[r,c]|   (a vector-matrix product and its bound).
void column_dots(const float* m, int64_t rows, int64_t cols, bool bf16, const std::vector<double>& w,
                 const std::vector<double>& w_abs, std::vector<double>& out, std::vector<double>& bound) {
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < cols; c0 += kColumnBlock) {
    const int64_t c1 = std::min(cols, c0 + kColumnBlock);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = c0; c < c1; ++c) {
        const double x = seen(m[r * cols + c], bf16);
        out[c] += w[r] * x;
        bound[c] += w_abs[r] * std::abs(x);
      }
    }
  }
}

}  // namespace

void AbftBackend::matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N,
                                 int64_t C, int64_t OC) {
  inner_->matmul_forward(out, inp, weight, bias, N, C, OC);
  maybe_corrupt(MatmulOutput::kForward, out, N * OC);
  if (!checking_) return;
  ++report_.checked;
  // Σ_n out[n,o] against Σ_c (Σ_n inp[n,c])·W[o,c] + N·b[o].
  std::vector<double> inp_sum, inp_abs, expected, bound, actual;
  column_sums(inp, N, C, bf16_, inp_sum, &inp_abs);
  row_dots(weight, OC, C, bf16_, inp_sum, inp_abs, expected, bound);
  column_sums(out, N, OC, /*bf16=*/false, actual, nullptr);
  for (int64_t o = 0; o < OC; ++o) {
    if (bias != nullptr) expected[o] += static_cast<double>(N) * bias[o], bound[o] += static_cast<double>(N) * std::abs(bias[o]);
    verify("matmul_forward", N, C, OC, o, actual[o], expected[o], bound[o]);
  }
}

void AbftBackend::matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                  const float* weight, int64_t N, int64_t C, int64_t OC) {
  if (!checking_) {
    inner_->matmul_backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
    if (dinp != nullptr) maybe_corrupt(MatmulOutput::kInputGradient, dinp, N * C);
    if (dweight != nullptr) maybe_corrupt(MatmulOutput::kWeightGradient, dweight, OC * C);
    return;
  }
  // dweight accumulates: its column sums before the call, so the checksum covers what this call added (the
  // accumulation's own rounding is bounded by the old values).
  std::vector<double> before, before_abs;
  if (dweight != nullptr) column_sums(dweight, OC, C, /*bf16=*/false, before, &before_abs);
  inner_->matmul_backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
  if (dinp != nullptr) maybe_corrupt(MatmulOutput::kInputGradient, dinp, N * C);
  if (dweight != nullptr) maybe_corrupt(MatmulOutput::kWeightGradient, dweight, OC * C);
  ++report_.checked;
  if (dinp != nullptr) {
    // Σ_n dinp[n,c] against Σ_o (Σ_n dout[n,o])·W[o,c].
    std::vector<double> col, col_abs, actual;
    column_sums(dout, N, OC, bf16_, col, &col_abs);
    std::vector<double> expected(static_cast<size_t>(C)), bound(static_cast<size_t>(C));
    column_dots(weight, OC, C, bf16_, col, col_abs, expected, bound);
    column_sums(dinp, N, C, /*bf16=*/false, actual, nullptr);
    for (int64_t c = 0; c < C; ++c) verify("matmul_backward dinp", N, C, OC, c, actual[c], expected[c], bound[c]);
  }
  if (dweight != nullptr) {
    // Σ_o ΔdW[o,c] against Σ_n (Σ_o dout[n,o])·inp[n,c].
    // Row sums of dout: its products with a vector of ones (×1 is exact).
    const std::vector<double> ones(static_cast<size_t>(OC), 1.0);
    std::vector<double> row, row_abs, after;
    row_dots(dout, N, OC, bf16_, ones, ones, row, row_abs);
    std::vector<double> expected(static_cast<size_t>(C)), bound(before_abs);
    column_dots(inp, N, C, bf16_, row, row_abs, expected, bound);
    column_sums(dweight, OC, C, /*bf16=*/false, after, nullptr);
    for (int64_t c = 0; c < C; ++c) {
      verify("matmul_backward dweight", N, C, OC, c, after[c] - before[c], expected[c], bound[c]);
    }
  }
}

}  // namespace tessera
