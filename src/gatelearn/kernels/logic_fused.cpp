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
// - backward: split over inputs through the inverse index (CSR: for input i, the entries
//   inv_entries[inv_offsets[i] .. inv_offsets[i+1]) encode (gate << 1 | operand) of every gate
//   operand that reads input i; inv_other[e] is the input row the entry's gate reads as its
//   other operand), so each input row of grad_x is owned by one thread, and so are
//   the coefficient sums of the gates whose operand a is that input;
// - backward without grad_x (first layer): split over gates, each reduces its own sums.
// at::parallel_for uses PyTorch's intra-op pool, so torch.set_num_threads() applies.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <cmath>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif
#include <cstdint>
#include <type_traits>
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

// Backward without the input gradient (the first layer, whose input is data): per gate, the 4
// coefficient sums over the batch, d loss / d (c0, ca, cb, cab) = sum of g * (1, a, b, a*b).
template <typename T>
inline void coeff_sums(const T* __restrict__ g, const T* __restrict__ a, const T* __restrict__ b,
                       T* __restrict__ gc, int64_t B) {
    T s_g = 0, s_a = 0, s_b = 0, s_ab = 0;
    #pragma omp simd reduction(+ : s_g, s_a, s_b, s_ab)
    for (int64_t s = 0; s < B; ++s) {
        const T ga = g[s] * a[s];
        s_g += g[s];
        s_a += ga;
        s_b += g[s] * b[s];
        s_ab += ga * b[s];
    }
    gc[0] = s_g;
    gc[1] = s_a;
    gc[2] = s_b;
    gc[3] = s_ab;
}

template <typename T>
void coeff_pass_impl(const T* gy, const T* x, const int32_t* ia, const int32_t* ib, T* gc,
                     int64_t out, int64_t B) {
    at::parallel_for(0, out, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) {
            if (j + kAhead < end) {
                prefetch_row(x + static_cast<int64_t>(ia[j + kAhead]) * B, B);
                prefetch_row(x + static_cast<int64_t>(ib[j + kAhead]) * B, B);
            }
            coeff_sums(gy + j * B, x + static_cast<int64_t>(ia[j]) * B, x + static_cast<int64_t>(ib[j]) * B,
                       gc + 4 * j, B);
        }
    });
}

// The full backward in ONE pass over the inputs, through the inverse index: input row i is owned
// by one thread, and so is every gate that reads i as its operand a (each gate has exactly one
// such entry). For an entry (gate j, operand o) reading input i:
//   grad_x[i] += g_j * (ca + cab * b_j)   (o = a)   or   g_j * (cb + cab * a_j)   (o = b),
// and at the o = a entry, where a_j is row i itself, the gate's 4 coefficient sums.
// Each entry reads two rows at random (g_j and the other operand, whose row index comes with the
// entry so that prefetching it needs no lookup in ia / ib); nothing is written but
// grad_x and the sums. A two-pass form (operand gradients of every gate written to a (2*out, B)
// buffer, then summed per input) moves about twice the bytes and was 1.5x slower here.
template <typename T>
void fused_backward_impl(const T* gy, const T* x, const T* c, const int32_t* inv_off, const int32_t* inv_ent,
                         const int32_t* inv_oth, T* gx, T* gc, int64_t in, int64_t B) {
    at::parallel_for(0, in, kGrain, [&](int64_t begin, int64_t end) {
        const int64_t e_end = inv_off[end];
        for (int64_t i = begin; i < end; ++i) {
            T* __restrict__ gxi = gx + i * B;
            const T* __restrict__ xi = x + i * B;
            for (int64_t s = 0; s < B; ++s) gxi[s] = 0;
            for (int64_t e = inv_off[i]; e < inv_off[i + 1]; ++e) {
                if (e + kAhead < e_end) {
                    prefetch_row(gy + static_cast<int64_t>(inv_ent[e + kAhead] >> 1) * B, B);
                    prefetch_row(x + static_cast<int64_t>(inv_oth[e + kAhead]) * B, B);
                }
                const int32_t code = inv_ent[e];
                const int64_t j = code >> 1;
                const T* __restrict__ g = gy + j * B;
                const T cab = c[4 * j + 3];
                if ((code & 1) == 0) {                       // i is operand a of gate j
                    const T* __restrict__ b = x + static_cast<int64_t>(inv_oth[e]) * B;
                    const T ca = c[4 * j + 1];
                    #pragma omp simd
                    for (int64_t s = 0; s < B; ++s) gxi[s] += g[s] * (ca + cab * b[s]);
                    if (gc != nullptr) coeff_sums(g, xi, b, gc + 4 * j, B);
                } else {                                     // i is operand b of gate j
                    const T* __restrict__ a = x + static_cast<int64_t>(inv_oth[e]) * B;
                    const T cb = c[4 * j + 2];
                    #pragma omp simd
                    for (int64_t s = 0; s < B; ++s) gxi[s] += g[s] * (cb + cab * a[s]);
                }
            }
        }
    });
}

// ---------------------------------------------------------------- softmax16 coefficients
// The softmax16 parametrization turns each gate's 16 logits z into probabilities p = softmax(z)
// and its coefficients into c = p @ table (the (16, 4) gate table; the kernels take it
// transposed, tableT (4, 16)). In PyTorch that is a softmax, a skinny matmul and their
// backwards, ~0.9 ms per 8,000-gate layer; here it is one pass over the logits each way.
//
// hard = true is the straight-through estimator of Gumbel sampling: the value is the table row
// of the most probable gate (the first maximum, as torch.argmax), the backward that of p @ table.
constexpr int kGates = 16;

// Portable version, one gate: any dtype, any CPU.
template <typename T>
inline void softmax_gate(const T* __restrict__ z, const T* __restrict__ tableT, T* __restrict__ p,
                         T* __restrict__ c, bool hard) {
    int best = 0;
    for (int g = 1; g < kGates; ++g) best = z[g] > z[best] ? g : best;
    const T m = z[best];
    T sum = 0;
    for (int g = 0; g < kGates; ++g) { p[g] = std::exp(z[g] - m); sum += p[g]; }
    const T inv = T(1) / sum;
    for (int g = 0; g < kGates; ++g) p[g] *= inv;
    for (int k = 0; k < 4; ++k) {
        T acc = 0;
        if (hard) acc = tableT[k * kGates + best];
        else for (int g = 0; g < kGates; ++g) acc += p[g] * tableT[k * kGates + g];
        c[k] = acc;
    }
}

// d loss / d z = p * (gp - <p, gp>) with gp = table @ grad_c (the softmax Jacobian).
template <typename T>
inline void softmax_gate_backward(const T* __restrict__ gc, const T* __restrict__ p, const T* __restrict__ tableT,
                                  T* __restrict__ gz) {
    T gp[kGates];
    T dot = 0;
    for (int g = 0; g < kGates; ++g) {
        gp[g] = tableT[g] * gc[0] + tableT[kGates + g] * gc[1] + tableT[2 * kGates + g] * gc[2] +
                tableT[3 * kGates + g] * gc[3];
        dot += p[g] * gp[g];
    }
    for (int g = 0; g < kGates; ++g) gz[g] = p[g] * (gp[g] - dot);
}

#if defined(__AVX2__) && defined(__FMA__)
// float with AVX2: a gate's 16 values are two 8-lane registers. Compilers do not vectorize the
// portable loops above well (16-element horizontal reductions, expf is a libm call).

// Every lane = the sum / maximum of all 8 lanes.
inline __m256 lanes_sum(__m256 v) {
    v = _mm256_add_ps(v, _mm256_permute2f128_ps(v, v, 1));
    v = _mm256_add_ps(v, _mm256_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm256_add_ps(v, _mm256_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
}
inline __m256 lanes_max(__m256 v) {
    v = _mm256_max_ps(v, _mm256_permute2f128_ps(v, v, 1));
    v = _mm256_max_ps(v, _mm256_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm256_max_ps(v, _mm256_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
}

// exp(x) for x <= 0 (softmax exponents after subtracting the maximum): Cephes' expf polynomial,
// relative error < 1e-7; below -87 it gives ~1e-38 instead of a denormal, which vanishes next
// to the maximum's exp(0) = 1.
inline __m256 exp_nonpositive(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    const __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);            // x - n*ln2, ln2 in two parts
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 q = _mm256_set1_ps(1.9875691500e-4f);
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.3981999507e-3f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(8.3334519073e-3f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(4.1665795894e-2f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.6666665459e-1f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(5.0000001201e-1f));
    q = _mm256_fmadd_ps(_mm256_mul_ps(q, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));   // q*r^2 + r + 1
    const __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(q, _mm256_castsi256_ps(two_n));
}

template <>
inline void softmax_gate<float>(const float* __restrict__ z, const float* __restrict__ tableT, float* __restrict__ p,
                                float* __restrict__ c, bool hard) {
    const __m256 z0 = _mm256_loadu_ps(z), z1 = _mm256_loadu_ps(z + 8);
    const __m256 m = lanes_max(_mm256_max_ps(z0, z1));
    const __m256 e0 = exp_nonpositive(_mm256_sub_ps(z0, m)), e1 = exp_nonpositive(_mm256_sub_ps(z1, m));
    const __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), lanes_sum(_mm256_add_ps(e0, e1)));
    const __m256 p0 = _mm256_mul_ps(e0, inv), p1 = _mm256_mul_ps(e1, inv);
    _mm256_storeu_ps(p, p0);
    _mm256_storeu_ps(p + 8, p1);
    if (hard) {
        const unsigned at_max = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(z0, m, _CMP_EQ_OQ))) |
                                static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(z1, m, _CMP_EQ_OQ))) << 8;
        const int best = at_max ? __builtin_ctz(at_max) : 0;   // no lane equal: NaN logits
        for (int k = 0; k < 4; ++k) c[k] = tableT[k * kGates + best];
        return;
    }
    __m256 prod[4];
    for (int k = 0; k < 4; ++k)
        prod[k] = _mm256_fmadd_ps(p0, _mm256_loadu_ps(tableT + k * kGates),
                                  _mm256_mul_ps(p1, _mm256_loadu_ps(tableT + k * kGates + 8)));
    // hadd twice leaves, in each 128-bit half, the four sums of that half's lanes
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(prod[0], prod[1]), _mm256_hadd_ps(prod[2], prod[3]));
    _mm_storeu_ps(c, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

template <>
inline void softmax_gate_backward<float>(const float* __restrict__ gc, const float* __restrict__ p,
                                         const float* __restrict__ tableT, float* __restrict__ gz) {
    __m256 gp0 = _mm256_setzero_ps(), gp1 = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
        const __m256 g = _mm256_set1_ps(gc[k]);
        gp0 = _mm256_fmadd_ps(g, _mm256_loadu_ps(tableT + k * kGates), gp0);
        gp1 = _mm256_fmadd_ps(g, _mm256_loadu_ps(tableT + k * kGates + 8), gp1);
    }
    const __m256 p0 = _mm256_loadu_ps(p), p1 = _mm256_loadu_ps(p + 8);
    const __m256 dot = lanes_sum(_mm256_fmadd_ps(p0, gp0, _mm256_mul_ps(p1, gp1)));
    _mm256_storeu_ps(gz, _mm256_mul_ps(p0, _mm256_sub_ps(gp0, dot)));
    _mm256_storeu_ps(gz + 8, _mm256_mul_ps(p1, _mm256_sub_ps(gp1, dot)));
}
#endif

template <typename T>
void softmax_coeffs_impl(const T* z, const T* tableT, T* probs, T* c, int64_t out, bool hard) {
    at::parallel_for(0, out, 2048, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) softmax_gate(z + j * kGates, tableT, probs + j * kGates, c + 4 * j, hard);
    });
}

template <typename T>
void softmax_coeffs_backward_impl(const T* gc, const T* probs, const T* tableT, T* gz, int64_t out) {
    at::parallel_for(0, out, 2048, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) softmax_gate_backward(gc + 4 * j, probs + j * kGates, tableT, gz + j * kGates);
    });
}

// ---------------------------------------------------------------- truth-table coefficients
// The light and walsh parametrizations give each gate 4 row logits q (one per truth-table row,
// walsh after its fixed linear map), row probabilities r = sigmoid(q) and coefficients
// c = r @ M (M the (4, 4) map from truth-table rows to coefficients). In PyTorch that is a
// sigmoid, a skinny (out, 4) @ (4, 4) matmul and their backwards, ~0.4 ms per 8,000-gate layer
// on one thread for the matmul alone; here it is one pass each way.
// hard = true is the straight-through estimator of Gumbel sampling: the value uses the rows
// (q > 0), the backward the soft rows. walsh's row logits are a fixed linear map of its weights,
// q = w @ P; given P, the kernels take w and apply it (and its transpose on the way back) too.
constexpr int kRows = 4;

// sigmoid of n values; e = exp(-|q|) so the exponent never overflows.
template <typename T>
inline void sigmoid_n(const T* q, T* r, int64_t n) {   // r may be q (in place)
    int64_t k = 0;
#if defined(__AVX2__) && defined(__FMA__)
    if constexpr (std::is_same_v<T, float>) {
        const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
        for (; k + 8 <= n; k += 8) {
            const __m256 v = _mm256_loadu_ps(q + k);
            const __m256 e = exp_nonpositive(_mm256_or_ps(v, sign));              // exp(-|q|)
            const __m256 inv = _mm256_div_ps(one, _mm256_add_ps(one, e));
            const __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
            _mm256_storeu_ps(r + k, _mm256_blendv_ps(inv, _mm256_mul_ps(e, inv), neg));   // q < 0: e / (1 + e)
        }
    }
#endif
    for (; k < n; ++k) {
        const T e = std::exp(-std::abs(q[k]));
        r[k] = q[k] < 0 ? e / (1 + e) : 1 / (1 + e);
    }
}

// q = w @ P for gates begin..end, written to q_out
template <typename T>
inline void map_rows(const T* w, const T* P, T* q_out, int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j)
        for (int k = 0; k < kRows; ++k) {
            T acc = 0;
            for (int m = 0; m < kRows; ++m) acc += w[kRows * j + m] * P[kRows * m + k];
            q_out[kRows * j + k] = acc;
        }
}

template <typename T>
void rows_coeffs_impl(const T* q, const T* M, const T* P, T* rows, T* c, int64_t out, bool hard) {
    at::parallel_for(0, out, 2048, [&](int64_t begin, int64_t end) {
        if (P != nullptr) {                 // q holds the weights: rows = sigmoid(w @ P), in place
            map_rows(q, P, rows, begin, end);
            sigmoid_n(rows + kRows * begin, rows + kRows * begin, kRows * (end - begin));
        } else {
            sigmoid_n(q + kRows * begin, rows + kRows * begin, kRows * (end - begin));
        }
        for (int64_t j = begin; j < end; ++j) {
            T v[kRows];
            for (int k = 0; k < kRows; ++k) v[k] = hard ? T(q[kRows * j + k] > 0) : rows[kRows * j + k];
            for (int i = 0; i < 4; ++i) {
                T acc = 0;
                for (int k = 0; k < kRows; ++k) acc += v[k] * M[4 * k + i];
                c[4 * j + i] = acc;
            }
        }
    });
}

// d loss / d q = (grad_c @ M^T) * r * (1 - r); with P, d loss / d w = (d loss / d q) @ P^T
template <typename T>
void rows_coeffs_backward_impl(const T* gc, const T* rows, const T* M, const T* P, T* gq, int64_t out) {
    at::parallel_for(0, out, 2048, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) {
            T g[kRows];
            for (int k = 0; k < kRows; ++k) {
                T acc = 0;
                for (int i = 0; i < 4; ++i) acc += gc[4 * j + i] * M[4 * k + i];
                const T r = rows[kRows * j + k];
                g[k] = acc * r * (1 - r);
            }
            for (int m = 0; m < kRows; ++m) {
                T acc = g[m];
                if (P != nullptr) {
                    acc = 0;
                    for (int k = 0; k < kRows; ++k) acc += g[k] * P[kRows * m + k];
                }
                gq[kRows * j + m] = acc;
            }
        }
    });
}

}  // namespace

void check_softmax_args(const torch::Tensor& t, const torch::Tensor& table, int64_t cols, const char* what) {
    TORCH_CHECK(t.device().is_cpu() && t.dim() == 2 && t.size(1) == cols && t.is_contiguous() &&
                (t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kFloat64),
                "softmax_coeffs: ", what, " must be a contiguous CPU float tensor of shape (out, ", cols, ")");
    TORCH_CHECK(table.dim() == 2 && table.size(0) == 4 && table.size(1) == kGates && table.is_contiguous() &&
                table.scalar_type() == t.scalar_type(),
                "softmax_coeffs: the transposed gate table must be contiguous (4, 16) of the same dtype");
}

// logits (out, 16), tableT (4, 16) (the gate table transposed) -> (coeffs (out, 4), probs (out, 16))
std::vector<torch::Tensor> softmax_coeffs(torch::Tensor logits, torch::Tensor table, bool hard) {
    check_softmax_args(logits, table, kGates, "logits");
    const int64_t out = logits.size(0);
    auto probs = torch::empty_like(logits);
    auto c = torch::empty({out, 4}, logits.options());
    AT_DISPATCH_FLOATING_TYPES(logits.scalar_type(), "softmax_coeffs", [&] {
        softmax_coeffs_impl<scalar_t>(logits.data_ptr<scalar_t>(), table.data_ptr<scalar_t>(),
                                      probs.data_ptr<scalar_t>(), c.data_ptr<scalar_t>(), out, hard);
    });
    return {c, probs};
}

// grad_coeffs (out, 4), probs (out, 16), tableT (4, 16) -> grad_logits (out, 16)
torch::Tensor softmax_coeffs_backward(torch::Tensor grad_c, torch::Tensor probs, torch::Tensor table) {
    check_softmax_args(probs, table, kGates, "probs");
    check_softmax_args(grad_c, table, 4, "grad_coeffs");
    TORCH_CHECK(grad_c.size(0) == probs.size(0), "softmax_coeffs: grad_coeffs and probs disagree on out");
    auto gz = torch::empty_like(probs);
    AT_DISPATCH_FLOATING_TYPES(probs.scalar_type(), "softmax_coeffs_backward", [&] {
        softmax_coeffs_backward_impl<scalar_t>(grad_c.data_ptr<scalar_t>(), probs.data_ptr<scalar_t>(),
                                               table.data_ptr<scalar_t>(), gz.data_ptr<scalar_t>(), probs.size(0));
    });
    return gz;
}

void check_rows_args(const torch::Tensor& t, const torch::Tensor& M, const char* what) {
    TORCH_CHECK(t.device().is_cpu() && t.dim() == 2 && t.size(1) == 4 && t.is_contiguous() &&
                (t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kFloat64),
                "rows_coeffs: ", what, " must be a contiguous CPU float tensor of shape (out, 4)");
    TORCH_CHECK(M.dim() == 2 && M.size(0) == 4 && M.size(1) == 4 && M.is_contiguous() &&
                M.scalar_type() == t.scalar_type(), "rows_coeffs: the row map must be contiguous (4, 4) of the same dtype");
}

// The optional pre-map P: an empty tensor, or (4, 4) of the dtype of t.
const void* pre_map_ptr(const torch::Tensor& P, const torch::Tensor& t) {
    if (P.numel() == 0) return nullptr;
    TORCH_CHECK(P.dim() == 2 && P.size(0) == 4 && P.size(1) == 4 && P.is_contiguous() &&
                P.scalar_type() == t.scalar_type(), "rows_coeffs: the pre-map must be contiguous (4, 4) of the same dtype");
    return P.data_ptr();
}

// row logits (out, 4) (or, with a (4, 4) pre-map P, weights w and row logits w @ P), M (4, 4)
// -> (coeffs (out, 4), row probabilities (out, 4))
std::vector<torch::Tensor> rows_coeffs(torch::Tensor q, torch::Tensor M, bool hard, torch::Tensor P) {
    check_rows_args(q, M, "row logits");
    const void* pre = pre_map_ptr(P, q);
    TORCH_CHECK(!(hard && pre != nullptr), "rows_coeffs: hard rows need the row logits, not a pre-map");
    auto rows = torch::empty_like(q);
    auto c = torch::empty_like(q);
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "rows_coeffs", [&] {
        rows_coeffs_impl<scalar_t>(q.data_ptr<scalar_t>(), M.data_ptr<scalar_t>(), static_cast<const scalar_t*>(pre),
                                   rows.data_ptr<scalar_t>(), c.data_ptr<scalar_t>(), q.size(0), hard);
    });
    return {c, rows};
}

// grad_coeffs (out, 4), rows (out, 4), M (4, 4), P (4, 4) or empty -> grad of the input of rows_coeffs (out, 4)
torch::Tensor rows_coeffs_backward(torch::Tensor grad_c, torch::Tensor rows, torch::Tensor M, torch::Tensor P) {
    check_rows_args(rows, M, "rows");
    check_rows_args(grad_c, M, "grad_coeffs");
    TORCH_CHECK(grad_c.size(0) == rows.size(0), "rows_coeffs: grad_coeffs and rows disagree on out");
    const void* pre = pre_map_ptr(P, rows);
    auto gq = torch::empty_like(rows);
    AT_DISPATCH_FLOATING_TYPES(rows.scalar_type(), "rows_coeffs_backward", [&] {
        rows_coeffs_backward_impl<scalar_t>(grad_c.data_ptr<scalar_t>(), rows.data_ptr<scalar_t>(), M.data_ptr<scalar_t>(),
                                            static_cast<const scalar_t*>(pre), gq.data_ptr<scalar_t>(), rows.size(0));
    });
    return gq;
}

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
                                          torch::Tensor inv_ent, torch::Tensor inv_oth, bool need_x, bool need_c) {
    check_common(xT, ia, ib, coeffs);
    const int64_t in = xT.size(0), B = xT.size(1), out = ia.size(0);
    TORCH_CHECK(gyT.dim() == 2 && gyT.size(0) == out && gyT.size(1) == B && gyT.is_contiguous() &&
                gyT.scalar_type() == xT.scalar_type(), "logic_fused: grad_y must be contiguous (out, B) of x's dtype");
    TORCH_CHECK(inv_off.scalar_type() == torch::kInt32 && inv_off.is_contiguous() && inv_off.numel() == in + 1,
                "logic_fused: inverse offsets must be contiguous int32 of length in + 1");
    TORCH_CHECK(inv_ent.scalar_type() == torch::kInt32 && inv_ent.is_contiguous() && inv_ent.numel() == 2 * out,
                "logic_fused: inverse entries must be contiguous int32 of length 2 * out");
    TORCH_CHECK(inv_oth.scalar_type() == torch::kInt32 && inv_oth.is_contiguous() && inv_oth.numel() == 2 * out,
                "logic_fused: the entries' other operands must be contiguous int32 of length 2 * out");
    auto gxT = need_x ? torch::empty({in, B}, xT.options()) : torch::empty({0}, xT.options());
    auto gc = need_c ? torch::empty({out, 4}, xT.options()) : torch::empty({0}, xT.options());
    AT_DISPATCH_FLOATING_TYPES(xT.scalar_type(), "logic_backward", [&] {
        const scalar_t* gy = gyT.data_ptr<scalar_t>();
        const scalar_t* x = xT.data_ptr<scalar_t>();
        scalar_t* gcp = need_c ? gc.data_ptr<scalar_t>() : nullptr;
        if (need_x)
            fused_backward_impl<scalar_t>(gy, x, coeffs.data_ptr<scalar_t>(), inv_off.data_ptr<int32_t>(),
                                          inv_ent.data_ptr<int32_t>(), inv_oth.data_ptr<int32_t>(),
                                          gxT.data_ptr<scalar_t>(), gcp, in, B);
        else if (need_c)
            coeff_pass_impl<scalar_t>(gy, x, ia.data_ptr<int32_t>(), ib.data_ptr<int32_t>(), gcp, out, B);
    });
    return {gxT, gc};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &logic_forward, "fused logic layer forward, feature-major");
    m.def("backward", &logic_backward, "fused logic layer backward, feature-major");
    m.def("softmax_coeffs", &softmax_coeffs, "softmax16 probabilities and their relaxation coefficients");
    m.def("softmax_coeffs_backward", &softmax_coeffs_backward, "backward of softmax_coeffs");
    m.def("rows_coeffs", &rows_coeffs, "light / walsh row probabilities and their relaxation coefficients");
    m.def("rows_coeffs_backward", &rows_coeffs_backward, "backward of rows_coeffs");
}
