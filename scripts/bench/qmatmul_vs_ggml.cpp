// Kernel-level prefill comparison: Tessera's quantized matrix product (CKernels' ck_qmatmul_parallel)
// against ggml's ggml_mul_mat on the CPU backend of the same llama.cpp build llama-bench uses, on the
// same quantized weight bytes and float activations, one thread, alternating, best of REPEATS.
// ggml's weights live in its CPU_REPACK buffer where llama.cpp puts them (Q4_0 on AVX2/AVX-512), so
// each engine runs the path it takes in a real prefill. Also counts results that differ bitwise.
//   built and run by scripts/bench/qmatmul_vs_ggml.sh
#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "CKernels.h"
}

static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int main(int argc, char **argv) {
    int repeats = argc > 1 ? atoi(argv[1]) : 5;
    int tokens = argc > 2 ? atoi(argv[2]) : 512;
    ggml_backend_load_all();
    ggml_backend_dev_t dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    auto get_extra = (ggml_backend_dev_get_extra_bufts_t)ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
    ggml_backend_buffer_type_t repack = nullptr;
    for (ggml_backend_buffer_type_t *b = get_extra ? get_extra(dev) : nullptr; b && *b; b++)
        if (std::string(ggml_backend_buft_name(*b)) == "CPU_REPACK") repack = *b;
    ggml_backend_t backend = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(backend, 1);
    ck_pool_set_threads(1);
    struct Type { ggml_type g; ck_dtype c; const char *name; };
    const Type types[] = {{GGML_TYPE_Q4_0, CK_Q4_0, "Q4_0"}, {GGML_TYPE_Q4_1, CK_Q4_1, "Q4_1"}, {GGML_TYPE_Q8_0, CK_Q8_0, "Q8_0"}};
    // SmolLM2-135M's projections: ffn_gate/up (1536 × 576), ffn_down (576 × 1536), attn_q/output (576 × 576).
    const int shapes[][2] = {{1536, 576}, {576, 1536}, {576, 576}};
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0, 1);
    printf("| type | rows × k | tokens | ggml ms (best) | tessera ms (best) | tessera / ggml speed | ggml path | results bit-equal |\n|---|---|---:|---:|---:|---:|---|---:|\n");
    for (const Type &t : types) {
        for (auto &s : shapes) {
            int rows = s[0], k = s[1];
            std::vector<float> wf((size_t)rows * k), x((size_t)tokens * k);
            for (auto &v : wf) v = 0.05f * normal(rng);
            for (auto &v : x) v = normal(rng);
            size_t wbytes = ggml_row_size(t.g, k) * rows;
            std::vector<uint8_t> wq(wbytes);
            ggml_quantize_chunk(t.g, wf.data(), wq.data(), 0, rows, k, nullptr);

            ggml_init_params wp = {ggml_tensor_overhead() * 4, nullptr, true};
            ggml_context *wctx = ggml_init(wp);
            ggml_tensor *W = ggml_new_tensor_2d(wctx, t.g, k, rows);
            bool repacked = false;
            ggml_backend_buffer_t wbuf = nullptr;
            if (repack) {
                wbuf = ggml_backend_alloc_ctx_tensors_from_buft(wctx, repack);
                repacked = W->extra != nullptr;
                if (!repacked) {  // a type ggml does not repack here: its plain CPU buffer, as llama.cpp falls back to
                    ggml_backend_buffer_free(wbuf);
                    wbuf = nullptr;
                    W->buffer = nullptr;
                    W->data = nullptr;
                }
            }
            if (!wbuf) wbuf = ggml_backend_alloc_ctx_tensors_from_buft(wctx, ggml_backend_cpu_buffer_type());
            ggml_backend_tensor_set(W, wq.data(), 0, wbytes);

            ggml_init_params cp = {ggml_tensor_overhead() * 8 + ggml_graph_overhead(), nullptr, true};
            ggml_context *ctx = ggml_init(cp);
            ggml_tensor *X = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, tokens);
            ggml_tensor *Y = ggml_mul_mat(ctx, W, X);
            ggml_cgraph *gf = ggml_new_graph(ctx);
            ggml_build_forward_expand(gf, Y);
            ggml_gallocr_t galloc = ggml_gallocr_new(ggml_backend_cpu_buffer_type());
            ggml_gallocr_alloc_graph(galloc, gf);
            ggml_backend_tensor_set(X, x.data(), 0, x.size() * 4);

            // Tessera's load-time interleaved copy of Q4_0 (WeightMatrix.interleaved); NULL for the others.
            std::vector<uint8_t> packed(t.c == CK_Q4_0 ? ck_q4_0_x8_bytes(rows, k) : 0);
            if (!packed.empty()) ck_q4_0_x8_pack(wq.data(), rows, k, packed.data());
            std::vector<float> yt((size_t)tokens * rows), yg((size_t)tokens * rows);
            std::vector<double> tg, tt;
            for (int rep = 0; rep < repeats + 1; rep++) {
                double a = now();
                ggml_backend_graph_compute(backend, gf);
                double b = now();
                ck_qmatmul_parallel(t.c, wq.data(), packed.empty() ? nullptr : packed.data(), rows, k, x.data(), k, tokens, yt.data(), rows, 0);
                double c = now();
                if (rep) { tg.push_back(b - a); tt.push_back(c - b); }  // the first round warms up
            }
            ggml_backend_tensor_get(Y, yg.data(), 0, yg.size() * 4);
            size_t equal = 0;
            for (size_t i = 0; i < yg.size(); i++) equal += memcmp(&yg[i], &yt[i], 4) == 0;
            std::sort(tg.begin(), tg.end());
            std::sort(tt.begin(), tt.end());
            // The best of the repeats: on a loaded machine the fastest run is the one least preempted.
            double mg = tg[0] * 1e3, mt = tt[0] * 1e3;
            printf("| %s | %d × %d | %d | %.2f | %.2f | %.2f× | %s | %.1f%% |\n", t.name, rows, k, tokens, mg, mt, mg / mt,
                   repacked ? "CPU_REPACK" : "mul_mat (vec_dot / llamafile)", 100.0 * equal / yg.size());
            fflush(stdout);
            ggml_gallocr_free(galloc);
            ggml_free(ctx);
            ggml_backend_buffer_free(wbuf);
            ggml_free(wctx);
        }
    }
    ggml_backend_free(backend);
    return 0;
}
