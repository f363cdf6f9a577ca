/* Compare each sample's features against the thresholds, 64 at a time, into row (sample % 64) of each chunk's 64 x 64 block; then transpose the blocks into input words. */
static void gl_encode_${SUFFIX}(const ${CTYPE} *x, size_t nb, word_t *S)
{
  uint64_t *U = (uint64_t *)S;
  size_t s, k;
  if (nb < GL_BLOCK) memset(S, 0, sizeof(word_t) * GL_IN_WORDS);
  for (s = 0; s < nb; s++) {
      const ${CTYPE} *row = x + s * (size_t)GL_F;
      const size_t at = (s % 64) * GL_LANES + s / 64;
      int l;
      /* the rows stream from memory: ask for a later row's lines ahead of use, into
         every cache level (a non-temporal hint, locality 0, halved the throughput of
         the whole network on an AVX-512 Xeon: 5.0 against 9.5 M MNIST images/s) */
      for (l = 0; s + GL_PREFETCH_ROWS < nb && l < GL_F * (int)sizeof(${CTYPE}); l += 64)
        __builtin_prefetch((const char *)(row + GL_PREFETCH_ROWS * GL_F) + l, 0, 3);
${BODY}
  }
  for (k = 0; k < GL_NENC_BLOCKS; k++) gl_transpose64(S + (size_t)GL_ENC_BLOCKS[k] * 64);
}
