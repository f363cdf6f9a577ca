// Fused CPU kernel of the dense logic layer (LogicLayer), forward and backward.
//
// Every gate j computes y = c0 + ca*a + cb*b + cab*a*b with a = x[ia[j]], b = x[ib[j]].
//
// Layout: everything here is FEATURE-MAJOR, x as (in, B), y as (out, B), grads likewise. A gate
// then reads two contiguous rows of B values and writes one, so the per-sample loop is a plain
// unit-stride SIMD loop; in the batch-major (B, in) layout every sample of a gate would be a
// strided gather. The Python wrapper hands out y as a transposed view, so a chain of layers
// stays feature-major without copies.
//
// Threads never write the same memory, so there are no atomics:
// - forward: split over gates, each gate writes its own output row;
// - backward pass 1: split over gates, each gate reduces its own 4 coefficient sums over the
//   batch and writes its own two operand-gradient rows;
// - backward pass 2: split over inputs through the inverse index (CSR: for input i, the entries
//   inv_entries[inv_offsets[i] .. inv_offsets[i+1]) encode (gate << 1 | operand) of every gate
//   operand that reads input i), so each input row of grad_x is owned by one thread.
// at::parallel_for uses PyTorch's intra-op pool, so torch.set_num_threads() applies.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <cstdint>
#include <vector>

namespace {

// Gates per parallel chunk: one gate is only ~B multiply-adds, so chunks must be large enough
// that scheduling costs nothing, yet small enough to balance two or more threads.
constexpr int64_t kGrain = 256;

void check_common(const torch::Tensor& xT, const torch::Tensor& ia, const torch::Tensor& ib,
                  const torch::Tensor& coeffs) {
    TORCH_CHECK(xT.device().is_cpu(), "logic_fused: x must be a CPU tensor");
    TORCH_CHECK(xT.dim() == 2 && xT.is_contiguous(), "logic_fused: x must be contiguous feature-major (in, B)");
    TORCH_CHECK(xT.scalar_type() == torch::kFloat32 || xT.scalar_type() == torch::kFloat64,
                "logic_fused: x must be float32 or float64");
    TORCH_CHECK(coeffs.scalar_type() == xT.scalar_type(), "logic_fused: coeffs must have the dtype of x");
    TORCH_CHECK(ia.scalar_type() == torch::kInt32 && ib.scalar_type() == torch::kInt32 &&
                ia.is_contiguous() && ib.is_contiguous() && ia.dim() == 1 && ia.sizes() == ib.sizes(),
                "logic_fused: idx_a / idx_b must be contiguous int32 vectors of equal length");
    TORCH_CHECK(coeffs.dim() == 2 && coeffs.size(0) == ia.size(0) && coeffs.size(1) == 4 && coeffs.is_contiguous(),
                "logic_fused: coeffs must be contiguous (out, 4)");
}

// How many gates (or inverse-index entries) ahead to prefetch. The rows a gate reads are at
// random addresses in an array of several MB (L2 misses), which the hardware prefetcher cannot
// predict; asking for them a few gates early hides most of the latency.
constexpr int64_t kAhead = 4;

template <typename T>
inline void prefetch_row(const T* row, int64_t B) {
    const char* p = reinterpret_cast<const char*>(row);
    const int64_t bytes = B * static_cast<int64_t>(sizeof(T));
    for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 0, 3);
    __builtin_prefetch(p + bytes - 1, 0, 3);
}

template <typename T>
void forward_impl(const T* x, const int32_t* ia, const int32_t* ib, const T* c, T* y,
                  int64_t out, int64_t B) {
    at::parallel_for(0, out, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) {
            if (j + kAhead < end) {
                prefetch_row(x + static_cast<int64_t>(ia[j + kAhead]) * B, B);
                prefetch_row(x + static_cast<int64_t>(ib[j + kAhead]) * B, B);
            }
            const T c0 = c[4 * j], ca = c[4 * j + 1], cb = c[4 * j + 2], cab = c[4 * j + 3];
            const T* __restrict__ a = x + static_cast<int64_t>(ia[j]) * B;
            const T* __restrict__ b = x + static_cast<int64_t>(ib[j]) * B;
            T* __restrict__ yj = y + j * B;
            // a*(ca + cab*b) + (c0 + cb*b): 3 multiply-adds, the same order as the reference
            #pragma omp simd
            for (int64_t s = 0; s < B; ++s) yj[s] = a[s] * (ca + cab * b[s]) + (c0 + cb * b[s]);
        }
    });
}

// Pass 1 of the backward, per gate: the 4 coefficient sums over the batch and, if the input
// gradient is needed, the gradient reaching each operand, dA = g*(ca + cab*b) and
// dB = g*(cb + cab*a), written to rows 2j and 2j+1 of `dab` (so an inverse-index entry
// code = gate << 1 | operand is directly its row). Pass 2 then only sums one row per entry
// instead of re-reading both g and the other operand at random addresses.
template <typename T>
void gate_pass_impl(const T* gy, const T* x, const int32_t* ia, const int32_t* ib, const T* c,
                    T* gc, T* dab, int64_t out, int64_t B) {
    at::parallel_for(0, out, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) {
            if (j + kAhead < end) {
                prefetch_row(x + static_cast<int64_t>(ia[j + kAhead]) * B, B);
                prefetch_row(x + static_cast<int64_t>(ib[j + kAhead]) * B, B);
            }
            const T* __restrict__ g = gy + j * B;
            const T* __restrict__ a = x + static_cast<int64_t>(ia[j]) * B;
            const T* __restrict__ b = x + static_cast<int64_t>(ib[j]) * B;
            if (gc != nullptr) {
                T s_g = 0, s_a = 0, s_b = 0, s_ab = 0;
                #pragma omp simd reduction(+ : s_g, s_a, s_b, s_ab)
                for (int64_t s = 0; s < B; ++s) {
                    const T ga = g[s] * a[s];
                    s_g += g[s];
                    s_a += ga;
                    s_b += g[s] * b[s];
                    s_ab += ga * b[s];
                }
                gc[4 * j] = s_g;
                gc[4 * j + 1] = s_a;
                gc[4 * j + 2] = s_b;
                gc[4 * j + 3] = s_ab;
            }
            if (dab != nullptr) {
                const T ca = c[4 * j + 1], cb = c[4 * j + 2], cab = c[4 * j + 3];
                T* __restrict__ da = dab + (2 * j) * B;
                T* __restrict__ db = da + B;
                #pragma omp simd
                for (int64_t s = 0; s < B; ++s) {
                    da[s] = g[s] * (ca + cab * b[s]);
                    db[s] = g[s] * (cb + cab * a[s]);
                }
            }
        }
    });
}

// Pass 2, per input: grad_x[i] = sum of the operand gradients of every gate operand reading i.
template <typename T>
void input_pass_impl(const T* dab, const int32_t* inv_off, const int32_t* inv_ent, T* gx,
                     int64_t in, int64_t B) {
    at::parallel_for(0, in, kGrain, [&](int64_t begin, int64_t end) {
        const int64_t e_end = inv_off[end];
        for (int64_t i = begin; i < end; ++i) {
            T* __restrict__ gxi = gx + i * B;
            for (int64_t s = 0; s < B; ++s) gxi[s] = 0;
            for (int64_t e = inv_off[i]; e < inv_off[i + 1]; ++e) {
                if (e + kAhead < e_end) prefetch_row(dab + static_cast<int64_t>(inv_ent[e + kAhead]) * B, B);
                const T* __restrict__ d = dab + static_cast<int64_t>(inv_ent[e]) * B;
                #pragma omp simd
                for (int64_t s = 0; s < B; ++s) gxi[s] += d[s];
            }
        }
    });
}

}  // namespace

// xT (in, B), ia/ib (out,) int32, coeffs (out, 4) -> yT (out, B)
torch::Tensor logic_forward(torch::Tensor xT, torch::Tensor ia, torch::Tensor ib, torch::Tensor coeffs) {
    check_common(xT, ia, ib, coeffs);
    const int64_t B = xT.size(1), out = ia.size(0);
    auto yT = torch::empty({out, B}, xT.options());
    AT_DISPATCH_FLOATING_TYPES(xT.scalar_type(), "logic_forward", [&] {
        forward_impl<scalar_t>(xT.data_ptr<scalar_t>(), ia.data_ptr<int32_t>(), ib.data_ptr<int32_t>(),
                               coeffs.data_ptr<scalar_t>(), yT.data_ptr<scalar_t>(), out, B);
    });
    return yT;
}

// Returns (grad_xT (in, B) or an empty tensor, grad_coeffs (out, 4) or an empty tensor).
std::vector<torch::Tensor> logic_backward(torch::Tensor gyT, torch::Tensor xT, torch::Tensor ia,
                                          torch::Tensor ib, torch::Tensor coeffs, torch::Tensor inv_off,
                                          torch::Tensor inv_ent, bool need_x, bool need_c) {
    check_common(xT, ia, ib, coeffs);
    const int64_t in = xT.size(0), B = xT.size(1), out = ia.size(0);
    TORCH_CHECK(gyT.dim() == 2 && gyT.size(0) == out && gyT.size(1) == B && gyT.is_contiguous() &&
                gyT.scalar_type() == xT.scalar_type(), "logic_fused: grad_y must be contiguous (out, B) of x's dtype");
    TORCH_CHECK(inv_off.scalar_type() == torch::kInt32 && inv_off.is_contiguous() && inv_off.numel() == in + 1,
                "logic_fused: inverse offsets must be contiguous int32 of length in + 1");
    TORCH_CHECK(inv_ent.scalar_type() == torch::kInt32 && inv_ent.is_contiguous() && inv_ent.numel() == 2 * out,
                "logic_fused: inverse entries must be contiguous int32 of length 2 * out");
    auto gxT = need_x ? torch::empty({in, B}, xT.options()) : torch::empty({0}, xT.options());
    auto gc = need_c ? torch::empty({out, 4}, xT.options()) : torch::empty({0}, xT.options());
    // The operand-gradient rows of pass 1 live only during this call.
    auto dab = need_x ? torch::empty({2 * out, B}, xT.options()) : torch::empty({0}, xT.options());
    AT_DISPATCH_FLOATING_TYPES(xT.scalar_type(), "logic_backward", [&] {
        if (!need_c && !need_x) return;
        gate_pass_impl<scalar_t>(gyT.data_ptr<scalar_t>(), xT.data_ptr<scalar_t>(), ia.data_ptr<int32_t>(),
                                 ib.data_ptr<int32_t>(), coeffs.data_ptr<scalar_t>(),
                                 need_c ? gc.data_ptr<scalar_t>() : nullptr,
                                 need_x ? dab.data_ptr<scalar_t>() : nullptr, out, B);
        if (need_x)
            input_pass_impl<scalar_t>(dab.data_ptr<scalar_t>(), inv_off.data_ptr<int32_t>(),
                                      inv_ent.data_ptr<int32_t>(), gxT.data_ptr<scalar_t>(), in, B);
    });
    return {gxT, gc};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &logic_forward, "fused logic layer forward, feature-major");
    m.def("backward", &logic_backward, "fused logic layer backward, feature-major");
}
