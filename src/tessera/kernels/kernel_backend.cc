// The backend factory and the kernel thread count.
#include "tessera/kernels/kernel_backend.h"

#include <omp.h>

#include "tessera/kernels/bf16_gemm.h"
#include "tessera/kernels/fast_backend.h"
#include "tessera/kernels/ref_backend.h"

namespace tessera {

StatusOr<std::unique_ptr<KernelBackend>> make_kernel_backend(const std::string& name,
                                                             const KernelOptions& options) {
  const bool bf16 = options.matmul_precision == MatmulPrecision::kBf16;
  if (name == "ref") return std::unique_ptr<KernelBackend>(std::make_unique<RefBackend>(options.matmul_precision));
  if (name == "fast") {
    if (!bf16) return std::unique_ptr<KernelBackend>(std::make_unique<FastBackend>());
    TESSERA_ASSIGN_OR_RETURN(std::unique_ptr<Bf16Gemm> gemm, Bf16Gemm::create());
    return std::unique_ptr<KernelBackend>(std::make_unique<FastBackend>(std::move(gemm)));
  }
  return invalid_argument_error("kernels: unknown backend '{}' (expected one of: ref, fast)", name);
}

// The OpenMP nthreads ICV of the calling thread: it governs the fast kernels' parallel regions and
// oneDNN's sgemm (built on the same GNU OpenMP runtime), so one call sets both. Call it from the thread
// that runs the kernels.
void set_kernel_threads(int threads) { omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs()); }

int kernel_threads() { return omp_get_max_threads(); }

}  // namespace tessera
