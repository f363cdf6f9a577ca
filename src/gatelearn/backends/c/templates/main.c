/* Example: classify raw uint8 samples.  Usage: ${NAME}_main FILE [THREADS]
 * FILE holds n * ${UNAME}_NUM_FEATURES bytes (e.g. MNIST pixels, row-major); prints one class per line.
 * Build: cc -O2 -march=native -fopenmp ${NAME}.c ${NAME}_main.c -o ${NAME}_main */
#include <stdio.h>
#include <stdlib.h>
#include "${NAME}.h"

int main(int argc, char **argv)
{
  FILE *f;
  long size;
  size_t n, i, ws;
  uint8_t *x;
  int32_t *cls;
  void *work, *raw;
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  if (argc < 2 || !(f = fopen(argv[1], "rb"))) {
    fprintf(stderr, "usage: %s FILE [THREADS]  (FILE: n x %d raw uint8 features)\n", argv[0], ${UNAME}_NUM_FEATURES);
    return 2;
  }
  fseek(f, 0, SEEK_END);
  size = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (size % ${UNAME}_NUM_FEATURES) {
    fprintf(stderr, "%s: %ld bytes is not a multiple of %d features\n", argv[1], size, ${UNAME}_NUM_FEATURES);
    return 2;
  }
  n = (size_t)size / ${UNAME}_NUM_FEATURES;
  x = malloc((size_t)size + 1);
  cls = malloc(sizeof(int32_t) * (n + 1));
  /* the workspace must be 64-byte aligned; C99 has no aligned_alloc, so over-allocate */
  ws = ${NAME}_workspace_bytes(threads) + 64;
  raw = malloc(ws);
  work = raw ? (void *)(((uintptr_t)raw + 63) & ~(uintptr_t)63) : NULL;
  if (!x || !cls || !work || fread(x, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  fclose(f);
  if (${NAME}_predict_u8(x, n, NULL, cls, work, threads)) return 1;
  for (i = 0; i < n; i++) printf("%d\n", cls[i]);
  free(x); free(cls); free(raw);
  return 0;
}
