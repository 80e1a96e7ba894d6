// Reference kernels. Shapes: B batch, T time, C channels, OC output channels, NH heads, HS = C/NH,
// V vocabulary, N = B·T rows. Written for clarity, not speed; every sum is accumulated in double.
#include "tessera/kernels/ref_backend.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tessera/core/check.h"
#include "tessera/kernels/bf16.h"

namespace tessera {
namespace {
constexpr double kLayerNormEps = 1e-5;
constexpr double kGeluScale = 0.7978845608028654;  // sqrt(2/π)
constexpr double kGeluCubic = 0.044715;
}  // namespace

void RefBackend::encoder_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                                 int64_t B, int64_t T, int64_t C) {
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const float* e = wte + int64_t{tokens[b * T + t]} * C;
      const float* p = wpe + t * C;
      float* o = out + (b * T + t) * C;
      for (int64_t c = 0; c < C; ++c) o[c] = e[c] + p[c];
    }
  }
}

void RefBackend::encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                                  int64_t B, int64_t T, int64_t C) {
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const float* d = dout + (b * T + t) * C;
      float* e = dwte + int64_t{tokens[b * T + t]} * C;
      float* p = dwpe + t * C;
      for (int64_t c = 0; c < C; ++c) {
        e[c] += d[c];
        p[c] += d[c];
      }
    }
  }
}

void RefBackend::layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                   const float* bias, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c) sum += x[c];
    const double mu = sum / static_cast<double>(C);
    double var = 0.0;
    for (int64_t c = 0; c < C; ++c) var += (x[c] - mu) * (x[c] - mu);
    var /= static_cast<double>(C);
    const double rs = 1.0 / std::sqrt(var + kLayerNormEps);
    float* y = out + n * C;
    for (int64_t c = 0; c < C; ++c) y[c] = static_cast<float>((x[c] - mu) * rs * weight[c] + bias[c]);
    mean[n] = static_cast<float>(mu);
    rstd[n] = static_cast<float>(rs);
  }
}

// With x̂ = (x - mean)·rstd and g = dout·weight:
//   dx = rstd · (g - mean_c(g) - x̂ · mean_c(g·x̂)).
void RefBackend::layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                    const float* inp, const float* weight, const float* mean, const float* rstd,
                                    int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    const float* dy = dout + n * C;
    const double mu = mean[n];
    const double rs = rstd[n];
    double g_mean = 0.0;
    double gx_mean = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      const double xhat = (x[c] - mu) * rs;
      const double g = static_cast<double>(dy[c]) * weight[c];
      g_mean += g;
      gx_mean += g * xhat;
    }
    g_mean /= static_cast<double>(C);
    gx_mean /= static_cast<double>(C);
    float* dx = dinp + n * C;
    for (int64_t c = 0; c < C; ++c) {
      const double xhat = (x[c] - mu) * rs;
      const double g = static_cast<double>(dy[c]) * weight[c];
      dx[c] += static_cast<float>(rs * (g - g_mean - xhat * gx_mean));
      dweight[c] += static_cast<float>(dy[c] * xhat);
      dbias[c] += dy[c];
    }
  }
}

double RefBackend::operand(float x) const { return bf16_matmul_ ? bf16::round(x) : x; }

void RefBackend::matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N,
                                int64_t C, int64_t OC) {
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t o = 0; o < OC; ++o) {
      double acc = bias != nullptr ? bias[o] : 0.0;
      for (int64_t c = 0; c < C; ++c) acc += operand(inp[n * C + c]) * operand(weight[o * C + c]);
      out[n * OC + o] = static_cast<float>(acc);
    }
  }
}

void RefBackend::matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                 const float* weight, int64_t N, int64_t C, int64_t OC) {
  if (dinp != nullptr) {
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t c = 0; c < C; ++c) {
        double acc = 0.0;
        for (int64_t o = 0; o < OC; ++o) acc += operand(dout[n * OC + o]) * operand(weight[o * C + c]);
        dinp[n * C + c] = static_cast<float>(acc);
      }
    }
  }
  for (int64_t o = 0; o < OC && dweight != nullptr; ++o) {
    for (int64_t c = 0; c < C; ++c) {
      double acc = 0.0;
      for (int64_t n = 0; n < N; ++n) acc += operand(dout[n * OC + o]) * operand(inp[n * C + c]);
      dweight[o * C + c] += static_cast<float>(acc);
    }
    if (dbias != nullptr) {
      double acc = 0.0;
      for (int64_t n = 0; n < N; ++n) acc += dout[n * OC + o];
      dbias[o] += static_cast<float>(acc);
    }
  }
}

// Scores of query row i of head h: row[j] = q_i·k_j·scale for j ≤ i, in double.
namespace {
void attention_scores(std::vector<double>& row, const float* qkv, int64_t b, int64_t h, int64_t i, int64_t T,
                      int64_t C, int64_t HS, double scale) {
  const float* q = qkv + (b * T + i) * 3 * C + h * HS;
  for (int64_t j = 0; j <= i; ++j) {
    const float* k = qkv + (b * T + j) * 3 * C + C + h * HS;
    double dot = 0.0;
    for (int64_t d = 0; d < HS; ++d) dot += static_cast<double>(q[d]) * k[d];
    row[static_cast<size_t>(j)] = dot * scale;
  }
}
}  // namespace

void RefBackend::attention_forward(float* out, float* stats, const float* qkv, int64_t B, int64_t T, int64_t C,
                                   int64_t NH) {
  TESSERA_CHECK(C % NH == 0, "C={} not divisible by NH={}", C, NH);
  const int64_t HS = C / NH;
  const double scale = 1.0 / std::sqrt(static_cast<double>(HS));
  std::vector<double> row(static_cast<size_t>(T));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < NH; ++h) {
      for (int64_t i = 0; i < T; ++i) {
        attention_scores(row, qkv, b, h, i, T, C, HS, scale);
        double mx = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) mx = std::max(mx, row[j]);
        double sum = 0.0;
        for (int64_t j = 0; j <= i; ++j) {
          row[j] = std::exp(row[j] - mx);
          sum += row[j];
        }
        stats[2 * ((b * NH + h) * T + i)] = static_cast<float>(mx);
        stats[2 * ((b * NH + h) * T + i) + 1] = static_cast<float>(sum);
        float* o = out + (b * T + i) * C + h * HS;
        for (int64_t d = 0; d < HS; ++d) {
          double acc = 0.0;
          for (int64_t j = 0; j <= i; ++j) acc += row[j] * qkv[(b * T + j) * 3 * C + 2 * C + h * HS + d];
          o[d] = static_cast<float>(acc / sum);
        }
      }
    }
  }
}

// Per (b, h), with S = q·kᵀ·scale, P = softmax(S) (recomputed here in double from the scores, so neither
// `out` nor `stats` is read: the oracle does not inherit their float rounding), O = P·v:
//   dP = dO·vᵀ;  dv = Pᵀ·dO;  dS = P ⊙ (dP - rowsum(P ⊙ dP));  dq = dS·k·scale;  dk = dSᵀ·q·scale.
void RefBackend::attention_backward(float* dqkv, const float* dout, const float* qkv, const float* /*out*/,
                                    const float* /*stats*/, int64_t B, int64_t T, int64_t C, int64_t NH) {
  TESSERA_CHECK(C % NH == 0, "C={} not divisible by NH={}", C, NH);
  const int64_t HS = C / NH;
  const double scale = 1.0 / std::sqrt(static_cast<double>(HS));
  for (int64_t i = 0; i < B * T * 3 * C; ++i) dqkv[i] = 0.0f;
  std::vector<double> a(static_cast<size_t>(T)), dp(static_cast<size_t>(T));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < NH; ++h) {
      for (int64_t i = 0; i < T; ++i) {
        attention_scores(a, qkv, b, h, i, T, C, HS, scale);
        double mx = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j <= i; ++j) mx = std::max(mx, a[j]);
        for (int64_t j = 0; j <= i; ++j) sum += (a[j] = std::exp(a[j] - mx));
        for (int64_t j = 0; j <= i; ++j) a[j] /= sum;
        const float* dy = dout + (b * T + i) * C + h * HS;
        double dot = 0.0;
        for (int64_t j = 0; j <= i; ++j) {
          const float* v = qkv + (b * T + j) * 3 * C + 2 * C + h * HS;
          float* dv = dqkv + (b * T + j) * 3 * C + 2 * C + h * HS;
          double acc = 0.0;
          for (int64_t d = 0; d < HS; ++d) {
            acc += static_cast<double>(dy[d]) * v[d];
            dv[d] += static_cast<float>(a[j] * dy[d]);
          }
          dp[j] = acc;
          dot += a[j] * acc;
        }
        const float* q = qkv + (b * T + i) * 3 * C + h * HS;
        float* dq = dqkv + (b * T + i) * 3 * C + h * HS;
        for (int64_t j = 0; j <= i; ++j) {
          const double ds = a[j] * (dp[j] - dot) * scale;
          const float* k = qkv + (b * T + j) * 3 * C + C + h * HS;
          float* dk = dqkv + (b * T + j) * 3 * C + C + h * HS;
          for (int64_t d = 0; d < HS; ++d) {
            dq[d] += static_cast<float>(ds * k[d]);
            dk[d] += static_cast<float>(ds * q[d]);
          }
        }
      }
    }
  }
}

void RefBackend::gelu_forward(float* out, const float* inp, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = inp[i];
    out[i] = static_cast<float>(0.5 * x * (1.0 + std::tanh(kGeluScale * (x + kGeluCubic * x * x * x))));
  }
}

void RefBackend::gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = inp[i];
    const double th = std::tanh(kGeluScale * (x + kGeluCubic * x * x * x));
    const double du = kGeluScale * (1.0 + 3.0 * kGeluCubic * x * x);
    const double grad = 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * du;
    dinp[i] = static_cast<float>(grad * dout[i]);
  }
}

void RefBackend::residual_forward(float* out, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void RefBackend::crossentropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets,
                                      int64_t N, int64_t V) {
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * V;
    double mx = -INFINITY;
    for (int64_t v = 0; v < V; ++v) mx = std::max(mx, static_cast<double>(x[v]));
    double sum = 0.0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(x[v] - mx);
    const double l = mx + std::log(sum);
    lse[n] = static_cast<float>(l);
    losses[n] = static_cast<float>(targets[n] >= 0 ? l - x[targets[n]] : l);
  }
}

void RefBackend::crossentropy_backward(float* dlogits, const float* logits, const float* lse,
                                       const int32_t* targets, float dloss, int64_t N, int64_t V) {
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * V;
    float* dx = dlogits + n * V;
    for (int64_t v = 0; v < V; ++v) {
      const double p = std::exp(static_cast<double>(x[v]) - lse[n]);
      dx[v] = static_cast<float>(dloss * (p - (v == targets[n] ? 1.0 : 0.0)));
    }
  }
}

void RefBackend::adamw_update(float* params, const float* grads, float* m, float* v, int64_t n, float lr,
                              float beta1, float beta2, float eps, float weight_decay, int64_t t) {
  TESSERA_CHECK(t >= 1, "adamw step t={} must be >= 1", t);
  const double c1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(t));
  const double c2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(t));
  for (int64_t i = 0; i < n; ++i) {
    const double g = grads[i];
    const double mi = beta1 * static_cast<double>(m[i]) + (1.0 - beta1) * g;
    const double vi = beta2 * static_cast<double>(v[i]) + (1.0 - beta2) * g * g;
    m[i] = static_cast<float>(mi);
    v[i] = static_cast<float>(vi);
    const double p = params[i];
    params[i] = static_cast<float>(p - lr * ((mi / c1) / (std::sqrt(vi / c2) + eps) + weight_decay * p));
  }
}

double RefBackend::sum_squares(const float* x, int64_t n) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(x[i]) * x[i];
  return acc;
}

void RefBackend::scale(float* x, float scale, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= scale;
}

}  // namespace tessera
