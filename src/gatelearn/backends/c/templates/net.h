/* ${NAME}.h -- a logic gate network compiled by gatelearn (bit-sliced C99).
 *
 * ${INPUTS} input bits from ${FEATURES} raw features, ${GATES} gates, ${OUTPUTS} outputs, ${CLASSES} classes.
 *
 * API (all functions are thread-safe; none allocates memory):
 *
 *   size_t ${NAME}_workspace_bytes(int threads);
 *       Bytes of scratch memory that a call with `threads` threads needs. Allocate it once
 *       (64-byte aligned, e.g. aligned_alloc(64, ...)) and reuse it for every call.
 *
 *   int ${NAME}_predict_u8(const uint8_t *x, size_t n, int32_t *scores, int32_t *classes,
 *                         void *workspace, int threads);
 *   int ${NAME}_predict_f32(const float *x, size_t n, int32_t *scores, int32_t *classes,
 *                          void *workspace, int threads);
 *       x: n samples, row-major, ${UNAME}_NUM_FEATURES = ${FEATURES} raw features per sample (uint8, e.g. pixels,
 *       or float32). The input encoding of the trained model (thresholds / one-hot) is applied
 *       in C, exactly as the model applies it (comparisons in float32; NaN encodes as 0).
 *       scores: n x ${CLASSES} int32, the GroupSum counts (ones per class group; the model's score is
 *       count / tau), or NULL. classes: n int32 class indices (argmax, first maximum on ties),
 *       or NULL. With scores NULL the class indices come from a bit-sliced argmax over the
 *       counters (all samples of a block at once), the fastest way to classify. threads: 1 or more (OpenMP); workspace must hold
 *       ${NAME}_workspace_bytes(threads) bytes. Returns 0, or -1 on a bad argument.
 *       Any n works, including 0 and 1.
 *
 * Build: cc -O2 -march=native -fopenmp -c ${NAME}.c   (-DGL_PORTABLE: 64-bit words, no vector
 * extensions; -DGL_WORD_BITS=256 picks the word width). The network is stored as tables (gate
 * operands as workspace slot indices, one run per logic level and gate kind) read by a fixed
 * evaluation loop, so the build takes about the same few seconds for any network size.
 */
#ifndef ${UNAME}_H
#define ${UNAME}_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

#define ${UNAME}_NUM_FEATURES ${FEATURES}
#define ${UNAME}_NUM_CLASSES ${CLASSES}
#define ${UNAME}_NUM_GATES ${GATES}

size_t ${NAME}_workspace_bytes(int threads);
size_t ${NAME}_block_samples(void);
int ${NAME}_predict_u8(const uint8_t *x, size_t n, int32_t *scores, int32_t *classes,
                      void *workspace, int threads);
int ${NAME}_predict_f32(const float *x, size_t n, int32_t *scores, int32_t *classes,
                       void *workspace, int threads);

#ifdef __cplusplus
}
#endif
#endif
