// Fused CPU kernel of the convolutional logic tree (LogicConv2d), forward and backward.
//
// Shapes: x (B, N) float32, coeffs (O, L-1, 4), y (B, O, P), L = 2^depth leaves. Nodes of one
// tree are numbered heap-style: leaves 0..L-1, gate g is node L+g and reads nodes 2g and 2g+1
// (this numbering puts gate j of the first level on leaves 2j, 2j+1 and every later level on the
// previous level's outputs, matching the Python reference).
//
// Leaf l of tree o reads x at a flat index per output position p. Those indices come as *runs*:
// run r = (p0, src, len) means positions p0 .. p0+len-1 read src .. src+len-1, and the runs of
// leaf (o, l) are runs[row_ptr[o*L + l] .. row_ptr[o*L + l + 1]). A convolution at stride 1 has
// one run per output row, so gathering the leaves and scattering their gradients are contiguous
// copies that vectorise instead of one scalar load per position (any index table can be written
// as runs, at worst of length 1).
//
// One (sample, channel) tree is evaluated for all P positions at once, node by node, so the inner
// loop runs over contiguous positions and vectorises; the (2L-1) x P node values of one tree fit
// in L1/L2. Backward recomputes them instead of saving (B, O, 2L-1, P) activations. Threads split
// the batch, so every thread owns its rows of grad_x (no atomics) and keeps private coefficient
// sums, added together at the end.
#include <torch/extension.h>
#include <omp.h>
#include <vector>

struct LeafRuns {
    const int32_t* row_ptr;   // (O*L + 1)
    const int32_t* runs;      // (R, 3): p0, src, len
};

static LeafRuns check_inputs(const torch::Tensor& x, const torch::Tensor& row_ptr, const torch::Tensor& runs,
                             const torch::Tensor& c, int64_t P) {
    TORCH_CHECK(x.dim() == 2 && x.scalar_type() == torch::kFloat32 && x.is_contiguous(), "x must be contiguous float32 (B, N)");
    TORCH_CHECK(c.dim() == 3 && c.scalar_type() == torch::kFloat32 && c.is_contiguous(), "coeffs must be contiguous float32 (O, L-1, 4)");
    const int64_t O = c.size(0), L = c.size(1) + 1;
    TORCH_CHECK(L >= 2 && (L & (L - 1)) == 0 && L <= 64 && c.size(2) == 4, "coeffs must be (O, L-1, 4) with L a power of two in 2..64");
    TORCH_CHECK(row_ptr.dim() == 1 && row_ptr.size(0) == O * L + 1 && row_ptr.scalar_type() == torch::kInt32 &&
                row_ptr.is_contiguous(), "row_ptr must be contiguous int32 (O*L + 1)");
    TORCH_CHECK(runs.dim() == 2 && runs.size(1) == 3 && runs.scalar_type() == torch::kInt32 && runs.is_contiguous(),
                "runs must be contiguous int32 (R, 3)");
    TORCH_CHECK(P >= 1, "positions must be >= 1");
    return {row_ptr.data_ptr<int32_t>(), runs.data_ptr<int32_t>()};
}

// Evaluate every node of tree o of sample row xb into v ((2L-1) x P).
static inline void eval_tree(const float* xb, const LeafRuns& lr, int64_t o, const float* c_o, int64_t L,
                             int64_t P, float* v) {
    for (int64_t l = 0; l < L; ++l) {
        float* dst = v + l * P;
        for (int32_t r = lr.row_ptr[o * L + l]; r < lr.row_ptr[o * L + l + 1]; ++r) {
            const int32_t* run = lr.runs + 3 * static_cast<int64_t>(r);
            const float* src = xb + run[1];
            float* d = dst + run[0];
            const int32_t n = run[2];
            #pragma omp simd
            for (int32_t i = 0; i < n; ++i) d[i] = src[i];
        }
    }
    for (int64_t g = 0; g < L - 1; ++g) {
        const float c0 = c_o[4 * g], ca = c_o[4 * g + 1], cb = c_o[4 * g + 2], cab = c_o[4 * g + 3];
        const float* a = v + (2 * g) * P;
        const float* b = v + (2 * g + 1) * P;
        float* out = v + (L + g) * P;
        #pragma omp simd
        for (int64_t p = 0; p < P; ++p) out[p] = c0 + cb * b[p] + a[p] * (ca + cab * b[p]);
    }
}

torch::Tensor tree_forward(torch::Tensor x, torch::Tensor row_ptr, torch::Tensor runs, int64_t P,
                           torch::Tensor coeffs) {
    const LeafRuns lr = check_inputs(x, row_ptr, runs, coeffs, P);
    const int64_t B = x.size(0), N = x.size(1), O = coeffs.size(0), L = coeffs.size(1) + 1;
    auto y = torch::empty({B, O, P}, x.options());
    const float* xp = x.data_ptr<float>();
    const float* cp = coeffs.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    #pragma omp parallel
    {
        std::vector<float> v((2 * L - 1) * P);
        #pragma omp for collapse(2) schedule(static)
        for (int64_t b = 0; b < B; ++b) {
            for (int64_t o = 0; o < O; ++o) {
                eval_tree(xp + b * N, lr, o, cp + o * (L - 1) * 4, L, P, v.data());
                const float* root = v.data() + (2 * L - 2) * P;
                float* dst = yp + (b * O + o) * P;
                for (int64_t p = 0; p < P; ++p) dst[p] = root[p];
            }
        }
    }
    return y;
}

std::vector<torch::Tensor> tree_backward(torch::Tensor grad_y, torch::Tensor x, torch::Tensor row_ptr,
                                         torch::Tensor runs, int64_t P, torch::Tensor coeffs, bool need_x) {
    const LeafRuns lr = check_inputs(x, row_ptr, runs, coeffs, P);
    const int64_t B = x.size(0), N = x.size(1), O = coeffs.size(0), L = coeffs.size(1) + 1;
    TORCH_CHECK(grad_y.sizes() == torch::IntArrayRef({B, O, P}) && grad_y.is_contiguous() &&
                grad_y.scalar_type() == torch::kFloat32, "grad_y must be contiguous float32 (B, O, P)");
    auto gx = need_x ? torch::zeros({B, N}, x.options()) : torch::zeros({0}, x.options());
    const int64_t G = O * (L - 1) * 4;
    const float* xp = x.data_ptr<float>();
    const float* cp = coeffs.data_ptr<float>();
    const float* gyp = grad_y.data_ptr<float>();
    float* gxp = need_x ? gx.data_ptr<float>() : nullptr;
    const int nthreads = omp_get_max_threads();
    std::vector<double> gc_all(static_cast<size_t>(nthreads) * G, 0.0);
    #pragma omp parallel num_threads(nthreads)
    {
        std::vector<float> v((2 * L - 1) * P), g((2 * L - 1) * P);
        double* gc = gc_all.data() + static_cast<size_t>(omp_get_thread_num()) * G;
        #pragma omp for schedule(static)
        for (int64_t b = 0; b < B; ++b) {
            for (int64_t o = 0; o < O; ++o) {
                const float* c_o = cp + o * (L - 1) * 4;
                eval_tree(xp + b * N, lr, o, c_o, L, P, v.data());
                const float* gy = gyp + (b * O + o) * P;
                float* groot = g.data() + (2 * L - 2) * P;
                for (int64_t p = 0; p < P; ++p) groot[p] = gy[p];
                // Every node feeds exactly one gate, so its gradient is assigned, not accumulated.
                for (int64_t gi = L - 2; gi >= 0; --gi) {
                    const float ca = c_o[4 * gi + 1], cb = c_o[4 * gi + 2], cab = c_o[4 * gi + 3];
                    const float* go = g.data() + (L + gi) * P;
                    const float* a = v.data() + (2 * gi) * P;
                    const float* bb = v.data() + (2 * gi + 1) * P;
                    float* ga = g.data() + (2 * gi) * P;
                    float* gb = g.data() + (2 * gi + 1) * P;
                    float s0 = 0.f, sa = 0.f, sb = 0.f, sab = 0.f;
                    #pragma omp simd reduction(+:s0,sa,sb,sab)
                    for (int64_t p = 0; p < P; ++p) {
                        const float gp = go[p], ap = a[p], bp = bb[p];
                        s0 += gp; sa += gp * ap; sb += gp * bp; sab += gp * ap * bp;
                        ga[p] = gp * (ca + cab * bp);
                        gb[p] = gp * (cb + cab * ap);
                    }
                    double* gcg = gc + (o * (L - 1) + gi) * 4;
                    gcg[0] += s0; gcg[1] += sa; gcg[2] += sb; gcg[3] += sab;
                }
                if (need_x) {
                    float* gxb = gxp + b * N;
                    // positions of one run read distinct inputs, so its adds vectorise
                    for (int64_t l = 0; l < L; ++l) {
                        const float* gl = g.data() + l * P;
                        for (int32_t r = lr.row_ptr[o * L + l]; r < lr.row_ptr[o * L + l + 1]; ++r) {
                            const int32_t* run = lr.runs + 3 * static_cast<int64_t>(r);
                            float* dst = gxb + run[1];
                            const float* src = gl + run[0];
                            const int32_t n = run[2];
                            #pragma omp simd
                            for (int32_t i = 0; i < n; ++i) dst[i] += src[i];
                        }
                    }
                }
            }
        }
    }
    auto gcoef = torch::zeros({O, L - 1, 4}, coeffs.options());
    float* gcp = gcoef.data_ptr<float>();
    for (int64_t i = 0; i < G; ++i) {
        double s = 0.0;
        for (int t = 0; t < nthreads; ++t) s += gc_all[static_cast<size_t>(t) * G + i];
        gcp[i] = static_cast<float>(s);
    }
    return {gx, gcoef};
}

// ---------------------------------------------------------------- OR pooling (relaxed: max)
// Non-overlapping k x k windows of x (B, C, H, W) contiguous, H and W multiples of k:
// y = the window's maximum, win = its position in the window (row-major, the FIRST maximum on
// ties, as max_pool2d). The backward hands each window's gradient to that position alone.
// PyTorch's max_pool2d with indices is several times slower on these small images.
std::vector<torch::Tensor> window_max(torch::Tensor x, int64_t k) {
    TORCH_CHECK(x.dim() == 4 && x.scalar_type() == torch::kFloat32 && x.is_contiguous(), "x must be contiguous float32 (B, C, H, W)");
    TORCH_CHECK(k >= 1 && k <= 15 && x.size(2) % k == 0 && x.size(3) % k == 0, "window size must divide H and W");
    const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3), h = H / k, w = W / k;
    auto y = torch::empty({x.size(0), x.size(1), h, w}, x.options());
    auto win = torch::empty({x.size(0), x.size(1), h, w}, x.options().dtype(torch::kUInt8));
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    uint8_t* wp = win.data_ptr<uint8_t>();
    #pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; ++pl) {
        const float* xq = xp + pl * H * W;
        for (int64_t i = 0; i < h; ++i)
            for (int64_t j = 0; j < w; ++j) {
                float best = xq[(i * k) * W + j * k];
                int pos = 0;
                for (int64_t dy = 0; dy < k; ++dy)
                    for (int64_t dx = 0; dx < k; ++dx) {
                        const float v = xq[(i * k + dy) * W + j * k + dx];
                        if (v > best) { best = v; pos = static_cast<int>(dy * k + dx); }
                    }
                yp[(pl * h + i) * w + j] = best;
                wp[(pl * h + i) * w + j] = static_cast<uint8_t>(pos);
            }
    }
    return {y, win};
}

torch::Tensor window_max_backward(torch::Tensor grad, torch::Tensor win, int64_t k) {
    TORCH_CHECK(grad.dim() == 4 && grad.scalar_type() == torch::kFloat32 && grad.is_contiguous(), "grad must be contiguous float32");
    TORCH_CHECK(win.sizes() == grad.sizes() && win.scalar_type() == torch::kUInt8 && win.is_contiguous(), "win must match grad");
    const int64_t planes = grad.size(0) * grad.size(1), h = grad.size(2), w = grad.size(3), H = h * k, W = w * k;
    auto gx = torch::zeros({grad.size(0), grad.size(1), H, W}, grad.options());
    const float* gp = grad.data_ptr<float>();
    const uint8_t* wp = win.data_ptr<uint8_t>();
    float* gxp = gx.data_ptr<float>();
    #pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; ++pl)
        for (int64_t i = 0; i < h; ++i)
            for (int64_t j = 0; j < w; ++j) {
                const int64_t o = (pl * h + i) * w + j, pos = wp[o];
                gxp[pl * H * W + (i * k + pos / k) * W + j * k + pos % k] = gp[o];
            }
    return gx;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("forward", &tree_forward, "logic tree conv forward (CPU)");
    m.def("backward", &tree_backward, "logic tree conv backward (CPU)");
    m.def("window_max", &window_max, "max over non-overlapping k x k windows, with the winner's position");
    m.def("window_max_backward", &window_max_backward, "backward of window_max");
}
