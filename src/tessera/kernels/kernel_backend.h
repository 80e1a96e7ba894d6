// KernelBackend: the forward/backward kernels of a GPT-2 training step, behind one small interface
// with two implementations (docs/architecture.md, "Backends behind small interfaces"):
//   "ref"  plain loops, single-threaded, written for clarity: the oracle every other backend is tested
//          against (and itself tested against finite differences);
//   "fast" oneDNN sgemm for matmuls, vectorised OpenMP-parallel elementwise/attention/softmax kernels.
//
// Shape letters: B batch, T time, C channels, OC output channels, NH heads, HS = C/NH head size,
// V vocabulary, N = B·T rows. All tensors are dense row-major float32 unless stated.
//
// Gradient conventions (the model relies on them):
//   - parameter gradients (dweight, dbias, dwte, dwpe) are ACCUMULATED (+=): gradient accumulation
//     over micro-batches needs nothing else;
//   - activation gradients are OVERWRITTEN (=), except layernorm_backward's dinp, which is
//     ACCUMULATED (+=) because it adds into the residual stream's gradient.
// Pointers documented "may be null" skip that output. Buffers do not alias unless stated.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tessera/core/status.h"

namespace tessera {

// A chunk's place in its group of LM-head chunks (KernelBackend::head_loss_backward): its first row within the
// group and the group's rows; {0, 0} is the chunk alone.
struct HeadGroup {
  int64_t row = 0;
  int64_t rows = 0;
};

class KernelBackend {
 public:
  virtual ~KernelBackend() = default;
  virtual const char* name() const = 0;

  // out[B,T,C] = wte[tokens[b,t], :] + wpe[t, :]
  virtual void encoder_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                               int64_t B, int64_t T, int64_t C) = 0;
  // dwte[tokens[b,t], :] += dout[b,t,:];  dwpe[t,:] += Σ_b dout[b,t,:]
  virtual void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                                int64_t B, int64_t T, int64_t C) = 0;

  // y = (x - mean) · rstd · weight + bias over the last dim, rstd = 1/sqrt(var + 1e-5) (biased var).
  // out[N,C]; mean[N], rstd[N] saved for backward.
  virtual void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                 const float* bias, int64_t N, int64_t C) = 0;
  // dinp[N,C] += ...; dweight[C] += Σ_n dout·x̂; dbias[C] += Σ_n dout.
  virtual void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                  const float* inp, const float* weight, const float* mean, const float* rstd,
                                  int64_t N, int64_t C) = 0;

  // out[N,OC] = inp[N,C] · weight[OC,C]^T + bias[OC]   (bias may be null)
  virtual void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N,
                              int64_t C, int64_t OC) = 0;
  // dinp[N,C] = dout[N,OC] · weight[OC,C]  (may be null);  dweight[OC,C] += dout^T · inp;
  // dbias[OC] += Σ_n dout[n,:]  (may be null). dweight null (then dbias too): only dinp — a zero-bubble
  // pipeline's input-gradient pass, whose weight gradients come later in a second call with dinp null.
  virtual void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                               const float* weight, int64_t N, int64_t C, int64_t OC) = 0;

  // Causal multi-head self-attention. qkv[B,T,3C] holds q | k | v, each [NH, HS] per token.
  // With s_ij = q_i·k_j / sqrt(HS) for j ≤ i (j > i masked) and P = softmax_j(s):
  // out[B,T,C] = P · v, heads concatenated; stats[B,NH,T,2] = (m_i, l_i) saved for backward, the row
  // maximum m_i = max_{j≤i} s_ij and l_i = Σ_{j≤i} e^{s_ij - m_i}. (Kept as a pair, not as log-sum-exp
  // m + log l: at huge scores, as in a diverging run, float(m + log l) loses the few bits that e^{s - lse}
  // needs and overflows, while s - m ≤ 0 holds exactly for scores recomputed the same way.)
  // The [T, T] probabilities are not an output: the fast backend never materialises them.
  virtual void attention_forward(float* out, float* stats, const float* qkv, int64_t B, int64_t T, int64_t C,
                                 int64_t NH) = 0;
  // dqkv[B,T,3C] = gradient of out w.r.t. qkv (overwritten), from the forward's out and stats
  // (P_ij = e^{s_ij - m_i} / l_i is recomputed from qkv).
  virtual void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                                  const float* stats, int64_t B, int64_t T, int64_t C, int64_t NH) = 0;

  // GELU, tanh approximation: 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))).
  virtual void gelu_forward(float* out, const float* inp, int64_t n) = 0;
  // dinp = dout · gelu'(inp)  (overwritten; dinp may alias dout)
  virtual void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) = 0;

  // out = a + b (out may alias a)
  virtual void residual_forward(float* out, const float* a, const float* b, int64_t n) = 0;

  // Softmax cross-entropy over logits[N,V] with targets[N] in [0, V).
  // losses[N] = logsumexp(logits[n]) - logits[n, targets[n]];  lse[N] = logsumexp(logits[n]) saved.
  // A negative target means "not in these columns" (a vocab-parallel slice of the logits): its row's loss is
  // logsumexp alone and the backward subtracts nothing.
  virtual void crossentropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets,
                                    int64_t N, int64_t V) = 0;
  // dlogits[n,v] = dloss · (softmax(logits[n])[v] - [v == targets[n]]). dlogits MAY ALIAS logits
  // (in place: the fast path never keeps a second N×V buffer).
  virtual void crossentropy_backward(float* dlogits, const float* logits, const float* lse,
                                     const int32_t* targets, float dloss, int64_t N, int64_t V) = 0;

  // The LM head's loss and backward over one chunk of rows, the three calls above fused where a backend can:
  //   crossentropy_forward(losses, lse, logits, targets, N, V);
  //   crossentropy_backward(logits, logits, lse, targets, dloss, N, V)       (dlogits in place)
  //   matmul_backward(dinp, dweight, nullptr, logits, inp, weight, N, C, V)  (dinp[N,C] overwritten, may be
  //                                                                           null; dweight[V,C] accumulated)
  // Afterwards logits[N,V] holds dlogits, or is scratch where the backend never wrote them in fp32. Targets as
  // crossentropy_forward's; a vocab-parallel slice, whose log-sum-exp needs the other ranks first, calls the
  // three separately. This default runs the three calls.
  //
  // Chunks may come in groups (HeadGroup: this chunk's first row within its group, and the group's rows; the
  // group's chunks are called in row order, inp and dinp pointing at this chunk's rows). A backend that holds
  // dlogits apart from the logits (head_group_dlogit_bytes() > 0) may keep each chunk's and run the two products
  // once over the whole group when its last chunk (row + N == rows) arrives: larger products run nearer the
  // machine's rate, and dweight is read and written once per group instead of once per chunk. Until that call
  // the group's inp rows must stay as they are; after it, the group's dinp rows and its dweight sums are done.
  // A group of {0, 0} is the chunk alone.
  virtual void head_loss_backward(float* losses, float* lse, float* logits, const int32_t* targets, float dloss,
                                  float* dinp, float* dweight, const float* inp, const float* weight, int64_t N,
                                  int64_t C, int64_t V, const HeadGroup& /*group*/ = {}) {
    crossentropy_forward(losses, lse, logits, targets, N, V);
    crossentropy_backward(logits, logits, lse, targets, dloss, N, V);
    matmul_backward(dinp, dweight, nullptr, logits, inp, weight, N, C, V);
  }
  // Bytes per dlogit that head_loss_backward holds for a group; 0 where dlogits stay in the logits and a group
  // gains nothing (GptModel then makes each chunk its own group).
  virtual int64_t head_group_dlogit_bytes() const { return 0; }

  // AdamW (decoupled weight decay, bias-corrected moments; PyTorch's torch.optim.AdamW):
  //   m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;  m̂ = m/(1-β1^t);  v̂ = v/(1-β2^t)
  //   p = p - lr·(m̂/(sqrt(v̂) + eps) + weight_decay·p)      (t ≥ 1 is the step number)
  virtual void adamw_update(float* params, const float* grads, float* m, float* v, int64_t n, float lr,
                            float beta1, float beta2, float eps, float weight_decay, int64_t t) = 0;

  // Weight residency, an optimisation hint that never changes results: [weights, weights + n) holds
  // matmul weights that stay unchanged until the next set_matmul_weights or clear_matmul_weights call. A
  // bf16 backend rounds them to bf16 once here and uses that copy in every matmul whose weight lies
  // inside the range, instead of converting the weight on each call; other backends ignore it. The
  // caller calls again after changing any of the values, and clears before the memory goes away.
  virtual void set_matmul_weights(const float* weights, int64_t n) {}
  virtual void clear_matmul_weights() {}

  // Σ x², accumulated in double (for the global gradient norm).
  virtual double sum_squares(const float* x, int64_t n) = 0;
  // x *= scale
  virtual void scale(float* x, float scale, int64_t n) = 0;
};

// What a matmul multiplies (docs/training.md, "Mixed precision").
enum class MatmulPrecision {
  kFp32,  // fp32 operands, fp32 accumulation
  kBf16,  // operands rounded to bfloat16 (nearest even), products summed in fp32, fp32 outputs; only the
          // matmuls change: every other kernel, every gradient and parameter buffer stays fp32
};

struct KernelOptions {
  // fast: oneDNN's bf16 matmul on bf16 copies of the operands. ref: the same rounding emulated (operands
  // rounded to bf16, products summed in double), the oracle of the fast bf16 path.
  MatmulPrecision matmul_precision = MatmulPrecision::kFp32;
};

// "ref" or "fast"; an unknown name is an InvalidArgument naming the known ones. kBf16 on a CPU without a
// oneDNN bf16 matmul is a FailedPrecondition with a hint.
StatusOr<std::unique_ptr<KernelBackend>> make_kernel_backend(const std::string& name,
                                                             const KernelOptions& options = {});

// Threads the fast kernels (OpenMP and oneDNN) may use; 0 = all cores. The ref backend is single-threaded.
void set_kernel_threads(int threads);
int kernel_threads();

}  // namespace tessera
