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
 *   const char *${NAME}_class_name(int k);
 *       The name of class k (as the training data named it; "0", "1", ... when it had none), or
 *       NULL when k is not a class index. ${UNAME}_CLASS_NAMES is the same list as an array
 *       initializer: static const char *const names[] = ${UNAME}_CLASS_NAMES;
 *
 *   ${UNAME}_WORKSPACE_BYTES(word_bits)
 *       ${NAME}_workspace_bytes(1) as a constant expression, for a build whose words are
 *       word_bits wide (64 with -DGL_PORTABLE): a static buffer instead of an allocation.
${PACKED_DOC} *
 * Build: cc -O2 -march=native -fopenmp -c ${NAME}.c   (-DGL_PORTABLE: 64-bit words, no vector
 * extensions; -DGL_WORD_BITS=256 picks the word width). OpenMP is optional: without -fopenmp the
 * calls run on the calling thread. A microcontroller or any plain C99 compiler:
 * cc -O2 -DGL_PORTABLE -c ${NAME}.c (no SIMD, no threads, no libm; the tables are const data).
 * The network is stored as tables (gate operands as workspace slot indices, one run per logic
 * level and gate kind) read by a fixed evaluation loop, so the build takes about the same few
 * seconds for any network size.
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
#define ${UNAME}_CLASS_NAMES ${CLASS_NAMES}
/* one thread's workspace: ${TOTAL_WORDS} words rounded up to a multiple of 8, word_bits / 8 bytes each */
#define ${UNAME}_WORKSPACE_BYTES(word_bits) ((((size_t)${TOTAL_WORDS} + 7) / 8) * 8 * ((word_bits) / 8))

size_t ${NAME}_workspace_bytes(int threads);
size_t ${NAME}_block_samples(void);
int ${NAME}_predict_u8(const uint8_t *x, size_t n, int32_t *scores, int32_t *classes,
                      void *workspace, int threads);
int ${NAME}_predict_f32(const float *x, size_t n, int32_t *scores, int32_t *classes,
                       void *workspace, int threads);
const char *${NAME}_class_name(int k);
${PACKED_API}
#ifdef __cplusplus
}
#endif
#endif
