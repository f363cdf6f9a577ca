/* classify.c -- run a network compiled by `gatelearn compile RUN --target c` on records from stdin.
 *
 * Input: one record per line, GATELEARN_NET_NUM_FEATURES raw feature values separated by commas:
 * numbers, and for a categorical column its integer category code (what `gatelearn encode RUN
 * --input records.csv` writes for a run trained on a CSV file). Output: the class name of each
 * record, one per line, as `gatelearn predict` prints them.
 *
 * Build: plain C99, no OpenMP, no SIMD (-DGL_PORTABLE: 64-bit words), as a microcontroller
 * toolchain would build it:
 *   cc -O2 -DGL_PORTABLE -I RUN/artifacts/c examples/mcu/classify.c RUN/artifacts/c/gatelearn_net.c -o classify
 *
 * Porting: replace stdin / stdout by your sensor and your output. The network's RAM is the one
 * static buffer `work` below (plus a little stack); its tables are const data (flash). Nothing
 * is allocated. With `gatelearn compile --name foo`, replace gatelearn_net by foo.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "gatelearn_net.h"

#define FEATURES GATELEARN_NET_NUM_FEATURES

/* The workspace, sized at compile time for 64-bit words. The API wants it 64-byte aligned and
   C99 cannot ask for alignment, so it has 64 bytes (8 words) to spare and main() rounds up. */
static uint64_t work[GATELEARN_NET_WORKSPACE_BYTES(64) / 8 + 8];

/* A line holds FEATURES numbers of up to ~30 characters each ("-1.17549435e-38", "nan", ...). */
static char line[FEATURES * 32 + 2];

/* "v0,v1,...": FEATURES numbers (spaces around them allowed) into x; 0 when the line is exactly
   that. strtof reads the number as float32, the precision the model compares in. */
static int parse_record(const char *s, float *x)
{
  int f;
  for (f = 0; f < FEATURES; f++) {
    char *end;
    x[f] = strtof(s, &end);
    if (end == s) return -1;                        /* not a number */
    s = end;
    while (*s == ' ' || *s == '\t') s++;
    if (f < FEATURES - 1 && *s++ != ',') return -1; /* too few values */
  }
  while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
  return *s ? -1 : 0;                               /* something after the last value */
}

int main(void)
{
  void *ws = (void *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
  float x[FEATURES];
  unsigned long n = 0;
  /* a build without -DGL_PORTABLE uses wider (SIMD) words, which need a larger workspace */
  if (gatelearn_net_workspace_bytes(1) > sizeof work - 64) {
    fprintf(stderr, "classify: the static workspace is sized for 64-bit words; build with -DGL_PORTABLE\n");
    return 2;
  }
  while (fgets(line, sizeof line, stdin)) {
    const char *p = line;
    int32_t cls;
    n++;
    while (*p == ' ' || *p == '\t' || *p == '\r') p++;
    if (*p == '\n' || *p == '\0') continue;         /* a blank line is no record */
    if (parse_record(line, x) != 0) {
      fprintf(stderr, "classify: line %lu: expected %d comma-separated numbers\n", n, FEATURES);
      return 2;
    }
    /* one record at a time, as a device classifies its readings; classes only (scores NULL) */
    if (gatelearn_net_predict_f32(x, 1, NULL, &cls, ws, 1) != 0) return 1;
    puts(gatelearn_net_class_name(cls));
  }
  return ferror(stdin) ? 1 : 0;
}
