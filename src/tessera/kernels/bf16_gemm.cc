// Bf16Gemm on oneDNN's matmul primitive. Mapping of C = beta·C + op(A)·op(B) (row-major) to the primitive's
// dst[M,N] = src[M,K] · weights[K,N]: src is A with strides {lda, 1} (or {1, lda} when transposed), weights
// is B with strides {ldb, 1} (or {1, ldb}), dst is C with strides {ldc, 1}; beta = 1 is a sum post-op
// (dst += result). oneDNN keeps created primitives in its own cache keyed by the descriptor, so building
// the descriptor per call costs microseconds against the milliseconds of a GEMM.
#include "tessera/kernels/bf16_gemm.h"

#include <dnnl.h>

#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "tessera/core/aligned_buffer.h"
#include "tessera/core/check.h"
#include "tessera/kernels/bf16.h"

namespace tessera {

struct Bf16Gemm::Dnnl {
  dnnl_engine_t engine = nullptr;
  dnnl_stream_t stream = nullptr;
  // A weight operand in oneDNN's blocked layout (gemm_reused_weights): `md` describes `buffer`; `version` is the
  // caller's version of the weights it was packed from.
  struct PackedWeight {
    dnnl_memory_desc_t md{};
    AlignedBuffer<uint8_t> buffer;
    uint64_t version = 0;
  };
  std::map<std::pair<const void*, bool>, PackedWeight> packed;  // by (key, trans_b)
  ~Dnnl() {
    if (stream != nullptr) dnnl_stream_destroy(stream);
    if (engine != nullptr) dnnl_engine_destroy(engine);
  }
};

namespace {

// Owners of the per-call oneDNN objects (destroyed in reverse order of creation).
struct CallHandles {
  dnnl_primitive_attr_t attr = nullptr;
  dnnl_post_ops_t post_ops = nullptr;
  dnnl_primitive_desc_t pd = nullptr;
  dnnl_primitive_t primitive = nullptr;
  dnnl_memory_t src = nullptr, weights = nullptr, dst = nullptr;
  dnnl_stream_t stream = nullptr;  // a call's own stream (gemm_on_this_thread)
  // Packing a reused weight (gemm_reused_weights): the reorder from the plain operand into the blocked layout.
  dnnl_primitive_desc_t reorder_pd = nullptr;
  dnnl_primitive_t reorder = nullptr;
  dnnl_memory_t plain_weights = nullptr;
  ~CallHandles() {
    if (stream != nullptr) dnnl_stream_destroy(stream);
    for (dnnl_memory_t m : {dst, weights, src, plain_weights}) {
      if (m != nullptr) dnnl_memory_destroy(m);
    }
    if (reorder != nullptr) dnnl_primitive_destroy(reorder);
    if (reorder_pd != nullptr) dnnl_primitive_desc_destroy(reorder_pd);
    if (primitive != nullptr) dnnl_primitive_destroy(primitive);
    if (pd != nullptr) dnnl_primitive_desc_destroy(pd);
    if (post_ops != nullptr) dnnl_post_ops_destroy(post_ops);
    if (attr != nullptr) dnnl_primitive_attr_destroy(attr);
  }
};

#define TESSERA_DNNL_RETURN_IF_ERROR(call)                                                              \
  do {                                                                                                  \
    const dnnl_status_t dnnl_status_ = (call);                                                          \
    if (dnnl_status_ != dnnl_success) {                                                                 \
      return failed_precondition_error("oneDNN: {} returned status {}", #call, static_cast<int>(dnnl_status_)); \
    }                                                                                                   \
  } while (0)

// The matmul primitive descriptor of dst = src · weights (+ dst when beta = 1, a sum post-op) into h.attr,
// h.post_ops and h.pd.
Status create_matmul_pd(CallHandles& h, dnnl_engine_t engine, const dnnl_memory_desc_t& src_md,
                        const dnnl_memory_desc_t& weights_md, const dnnl_memory_desc_t& dst_md, float beta) {
  dnnl_matmul_desc_t desc;
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_matmul_desc_init(&desc, &src_md, &weights_md, nullptr, &dst_md));
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_primitive_attr_create(&h.attr));
  if (beta == 1.0f) {
    TESSERA_DNNL_RETURN_IF_ERROR(dnnl_post_ops_create(&h.post_ops));
    TESSERA_DNNL_RETURN_IF_ERROR(dnnl_post_ops_append_sum(h.post_ops, 1.0f));
    TESSERA_DNNL_RETURN_IF_ERROR(dnnl_primitive_attr_set_post_ops(h.attr, h.post_ops));
  }
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_primitive_desc_create(&h.pd, &desc, h.attr, engine, nullptr));
  return Status();
}

}  // namespace

Bf16Gemm::Bf16Gemm(std::unique_ptr<Dnnl> dnnl) : dnnl_(std::move(dnnl)) {}
Bf16Gemm::~Bf16Gemm() = default;

StatusOr<std::unique_ptr<Bf16Gemm>> Bf16Gemm::create() {
  auto dnnl = std::make_unique<Dnnl>();
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_engine_create(&dnnl->engine, dnnl_cpu, 0));
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_stream_create(&dnnl->stream, dnnl->engine, dnnl_stream_default_flags));
  std::unique_ptr<Bf16Gemm> gemm(new Bf16Gemm(std::move(dnnl)));
  // Probe the three layouts the backend uses (NT, NN, TN with accumulation) on a small problem.
  const uint16_t one = bf16::from_float(1.0f);
  const std::vector<uint16_t> a(16 * 16, one), b(16 * 16, one);
  std::vector<float> c(16 * 16, 0.0f);
  for (const auto& [ta, tb, beta] : {std::tuple{false, true, 0.0f}, {false, false, 0.0f}, {true, false, 1.0f}}) {
    const Status status = gemm->try_gemm(ta, tb, 16, 16, 16, a.data(), 16, b.data(), 16, beta, c.data(), 16);
    if (!status.ok()) {
      return failed_precondition_error(
          "kernels: this CPU has no oneDNN bf16 matmul ({}); bf16 needs AVX-512 (AVX-512-BF16 for speed); "
          "hint: set parallel.precision = \"fp32\"",
          status.message());
    }
  }
  if (c[0] != 32.0f) return internal_error("kernels: bf16 matmul probe computed {} != expected 32", c[0]);
  return gemm;
}

uint16_t* Bf16Gemm::buffer(Slot slot, int64_t n) {
  AlignedBuffer<uint16_t>& scratch = scratch_[slot];
  if (scratch.size() < n) scratch = AlignedBuffer<uint16_t>(n);  // contents are not kept: callers write, then read
  return scratch.data();
}

const uint16_t* Bf16Gemm::convert(Slot slot, const float* x, int64_t n) {
  uint16_t* out = buffer(slot, n);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = bf16::from_float(x[i]);
  return out;
}

void Bf16Gemm::gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
                    const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const Status status = try_gemm(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
  TESSERA_CHECK(status.ok(), "bf16 gemm(trans_a={} trans_b={} M={} N={} K={}): {}", trans_a, trans_b, M, N, K,
                status.message());
}

void Bf16Gemm::gemm_on_this_thread(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A,
                                   int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C,
                                   int64_t ldc) const {
  const Status status = try_gemm(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc, /*own_stream=*/true);
  TESSERA_CHECK(status.ok(), "bf16 gemm on one thread (trans_a={} trans_b={} M={} N={} K={}): {}", trans_a,
                trans_b, M, N, K, status.message());
}

Status Bf16Gemm::try_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A,
                          int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc,
                          bool own_stream) const {
  TESSERA_CHECK(beta == 0.0f || beta == 1.0f, "bf16 gemm: beta {} must be 0 or 1", beta);
  const dnnl_dims_t src_dims = {M, K}, weights_dims = {K, N}, dst_dims = {M, N};
  const dnnl_dims_t src_strides = {trans_a ? 1 : lda, trans_a ? lda : 1};
  const dnnl_dims_t weights_strides = {trans_b ? 1 : ldb, trans_b ? ldb : 1};
  const dnnl_dims_t dst_strides = {ldc, 1};
  dnnl_memory_desc_t src_md, weights_md, dst_md;
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_memory_desc_init_by_strides(&src_md, 2, src_dims, dnnl_bf16, src_strides));
  TESSERA_DNNL_RETURN_IF_ERROR(
      dnnl_memory_desc_init_by_strides(&weights_md, 2, weights_dims, dnnl_bf16, weights_strides));
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_memory_desc_init_by_strides(&dst_md, 2, dst_dims, dnnl_f32, dst_strides));
  CallHandles h;
  TESSERA_RETURN_IF_ERROR(create_matmul_pd(h, dnnl_->engine, src_md, weights_md, dst_md, beta));
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_primitive_create(&h.primitive, h.pd));
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_memory_create(&h.src, &src_md, dnnl_->engine, const_cast<uint16_t*>(A)));
  TESSERA_DNNL_RETURN_IF_ERROR(
      dnnl_memory_create(&h.weights, &weights_md, dnnl_->engine, const_cast<uint16_t*>(B)));
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_memory_create(&h.dst, &dst_md, dnnl_->engine, C));
  const dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, h.src}, {DNNL_ARG_WEIGHTS, h.weights}, {DNNL_ARG_DST, h.dst}};
  if (own_stream) TESSERA_DNNL_RETURN_IF_ERROR(dnnl_stream_create(&h.stream, dnnl_->engine, dnnl_stream_default_flags));
  dnnl_stream_t stream = own_stream ? h.stream : dnnl_->stream;
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_primitive_execute(h.primitive, stream, 3, args));
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_stream_wait(stream));
  return Status();
}

void Bf16Gemm::gemm_reused_weights(const void* key, uint64_t version, bool trans_b, int64_t M, int64_t N, int64_t K,
                                   const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb, float beta, float* C,
                                   int64_t ldc) {
  const Status status = try_gemm_reused_weights(key, version, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
  TESSERA_CHECK(status.ok(), "bf16 gemm with reused weights (trans_b={} M={} N={} K={}): {}", trans_b, M, N, K,
                status.message());
}

void Bf16Gemm::release_packed_weights() { dnnl_->packed.clear(); }

// The same mapping as try_gemm, except that the primitive is created with the weights' layout left to oneDNN
// (format "any") and run on the packed copy.
Status Bf16Gemm::try_gemm_reused_weights(const void* key, uint64_t version, bool trans_b, int64_t M, int64_t N,
                                         int64_t K, const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb,
                                         float beta, float* C, int64_t ldc) {
  TESSERA_CHECK(beta == 0.0f || beta == 1.0f, "bf16 gemm: beta {} must be 0 or 1", beta);
  const dnnl_dims_t src_dims = {M, K}, weights_dims = {K, N}, dst_dims = {M, N};
  const dnnl_dims_t src_strides = {lda, 1}, dst_strides = {ldc, 1};
  const dnnl_dims_t plain_strides = {trans_b ? 1 : ldb, trans_b ? ldb : 1};
  dnnl_memory_desc_t src_md, any_weights_md, plain_weights_md, dst_md;
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_memory_desc_init_by_strides(&src_md, 2, src_dims, dnnl_bf16, src_strides));
  TESSERA_DNNL_RETURN_IF_ERROR(
      dnnl_memory_desc_init_by_tag(&any_weights_md, 2, weights_dims, dnnl_bf16, dnnl_format_tag_any));
  TESSERA_DNNL_RETURN_IF_ERROR(
      dnnl_memory_desc_init_by_strides(&plain_weights_md, 2, weights_dims, dnnl_bf16, plain_strides));
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_memory_desc_init_by_strides(&dst_md, 2, dst_dims, dnnl_f32, dst_strides));
  CallHandles h;
  TESSERA_RETURN_IF_ERROR(create_matmul_pd(h, dnnl_->engine, src_md, any_weights_md, dst_md, beta));
  const dnnl_memory_desc_t* packed_md = dnnl_primitive_desc_query_md(h.pd, dnnl_query_weights_md, 0);
  if (packed_md == nullptr) return failed_precondition_error("oneDNN: the matmul reports no weights layout");

  auto [it, added] = dnnl_->packed.try_emplace({key, trans_b});
  Dnnl::PackedWeight& packed = it->second;
  if (added || packed.version != version || !dnnl_memory_desc_equal(&packed.md, packed_md)) {
    const size_t bytes = dnnl_memory_desc_get_size(packed_md);
    if (static_cast<size_t>(packed.buffer.size()) != bytes) {
      packed.buffer = AlignedBuffer<uint8_t>(static_cast<int64_t>(bytes));
    }
    packed.md = *packed_md;
    TESSERA_DNNL_RETURN_IF_ERROR(dnnl_memory_create(&h.plain_weights, &plain_weights_md, dnnl_->engine,
                                                    const_cast<uint16_t*>(B)));
    TESSERA_DNNL_RETURN_IF_ERROR(dnnl_memory_create(&h.weights, &packed.md, dnnl_->engine, packed.buffer.data()));
    TESSERA_DNNL_RETURN_IF_ERROR(dnnl_reorder_primitive_desc_create(&h.reorder_pd, &plain_weights_md, dnnl_->engine,
                                                                    &packed.md, dnnl_->engine, nullptr));
    TESSERA_DNNL_RETURN_IF_ERROR(dnnl_primitive_create(&h.reorder, h.reorder_pd));
    const dnnl_exec_arg_t reorder_args[] = {{DNNL_ARG_FROM, h.plain_weights}, {DNNL_ARG_TO, h.weights}};
    TESSERA_DNNL_RETURN_IF_ERROR(dnnl_primitive_execute(h.reorder, dnnl_->stream, 2, reorder_args));
    packed.version = version;
  } else {
    TESSERA_DNNL_RETURN_IF_ERROR(dnnl_memory_create(&h.weights, &packed.md, dnnl_->engine, packed.buffer.data()));
  }
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_primitive_create(&h.primitive, h.pd));
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_memory_create(&h.src, &src_md, dnnl_->engine, const_cast<uint16_t*>(A)));
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_memory_create(&h.dst, &dst_md, dnnl_->engine, C));
  const dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, h.src}, {DNNL_ARG_WEIGHTS, h.weights}, {DNNL_ARG_DST, h.dst}};
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_primitive_execute(h.primitive, dnnl_->stream, 3, args));
  TESSERA_DNNL_RETURN_IF_ERROR(dnnl_stream_wait(dnnl_->stream));
  return Status();
}

}  // namespace tessera
