
/* ------------------------------------------------------------------ packed evaluation
   A plain circuit (no encoder, no head) from packed input bits to packed output bits. A value
   here is GL_PK words (a block is GL_PBLOCK = 64 * GL_LANES * GL_PK vectors), so every table
   read, run dispatch and loop step is shared by GL_PK words: deep, narrow circuits have short
   runs, and the words per value make them cost what their gates cost. GL_PK was chosen when the
   code was generated so that the packed workspace stays in L2. Input i is slot i; the gates use
   the same runs and slot tables as the predict path; the outputs are evaluated into a buffer of
   one value per output (runs of one kind, like the class counters' items) and copied out. */
#define GL_PK ${PACKED_WORDS}
#define GL_PBLOCK ((size_t)GL_BLOCK * GL_PK)
#define GL_PIN ${INPUTS}
#define GL_POUT ${OUTPUTS}
#define GL_POBUF ${PACKED_OUT_BASE}
#define GL_PSLOTS ${PACKED_SLOTS}
#define GL_NORUNS ${ORUNS}
/* word k of the value at table offset o (o = slot * GL_TABLE_LANES) */
#define GL_WK(o, k) (*(const word_t *)((const uint64_t *)S + ((size_t)(o) * GL_PK / GL_TABLE_LANES + (size_t)(k)) * GL_LANES))
${PACKED_EXPRESSIONS}
/* Output items: run r writes GL_ORUN_LEN[r] values with gate GL_ORUN_OP[r] into the buffer, in
   order; operands GL_OA / GL_OB. An output the gates store (or an input) is read through the
   pass-through gate A. Output o is buffer value GL_OPOS[o]. */
static const gl_idx_t GL_OA[${OA_LEN}] = {${OA}};
static const gl_idx_t GL_OB[${OB_LEN}] = {${OB}};
static const uint8_t GL_ORUN_OP[${ORUN_OP_LEN}] = {${ORUN_OP}};
static const uint32_t GL_ORUN_LEN[${ORUN_LEN_LEN}] = {${ORUN_LEN}};
static const uint32_t GL_OPOS[${OPOS_LEN}] = {${OPOS}};

/* One run of GL_PK-word values: as gl_run, each gate over its GL_PK words (unrolled). */
static GL_INLINE void gl_run_k(word_t *restrict d, const word_t *S, const gl_idx_t *a, const gl_idx_t *b,
                               size_t len, int op)
{
  size_t i;
  int k;
  switch (op) {
${PACKED_CASES}
  }
}

/* One block: words w0 .. w0 + nw - 1 of every input row in, the same words of the selected
   output rows out (rows of `stride` words). The last block's unused words are zeroed so no
   value depends on memory the caller did not write, and the output bits past n are cleared. */
static void gl_packed_block(const uint64_t *in, uint64_t *out, size_t stride, size_t w0, size_t nw,
                            uint64_t tail_mask, const uint32_t *select, size_t nsel, word_t *S)
{
  uint64_t *U = (uint64_t *)S;
  const size_t per = (size_t)GL_PK * GL_LANES;     /* 64-bit words per value */
  const gl_idx_t *a = GL_GA, *b = GL_GB;
  size_t i, r, pos;
  for (i = 0; i < GL_PIN; i++) {
    memcpy(U + i * per, in + i * stride + w0, nw * sizeof(uint64_t));
    if (nw < per) memset(U + i * per + nw, 0, (per - nw) * sizeof(uint64_t));
  }
  for (r = 0; r < GL_NRUNS; r++) {
    const size_t len = GL_RUN_LEN[r];
    gl_run_k(S + (size_t)GL_RUN_OUT[r] * GL_PK, S, a, b, len, GL_RUN_OP[r]);
    a += len; b += len;
  }
  a = GL_OA; b = GL_OB;
  for (r = 0, pos = GL_POBUF; r < GL_NORUNS; r++) {
    const size_t len = GL_ORUN_LEN[r];
    gl_run_k(S + pos * GL_PK, S, a, b, len, GL_ORUN_OP[r]);
    a += len; b += len; pos += len;
  }
  for (i = 0; i < nsel; i++) {
    uint64_t *row = out + i * stride + w0;
    memcpy(row, U + ((size_t)GL_POBUF + GL_OPOS[select ? select[i] : i]) * per, nw * sizeof(uint64_t));
    row[nw - 1] &= tail_mask;
  }
}

static size_t gl_packed_ws_words(void) { return ((size_t)GL_PSLOTS * GL_PK + 7) & ~(size_t)7; }

size_t ${NAME}_packed_workspace_bytes(int threads)
{
  return (threads < 1 ? 1 : (size_t)threads) * gl_packed_ws_words() * sizeof(word_t);
}

size_t ${NAME}_packed_block(void) { return GL_PBLOCK; }

int ${NAME}_eval_packed(const uint64_t *in_bits, size_t n, uint64_t *out_bits, const uint32_t *select,
                        size_t nselect, void *workspace, int threads)
{
  const size_t stride = (n + 63) / 64;
  const uint64_t last = n % 64 ? (((uint64_t)1 << (n % 64)) - 1) : ~(uint64_t)0;
  long nblocks = (long)((n + GL_PBLOCK - 1) / GL_PBLOCK), i;
  size_t j;
  if (!select) nselect = GL_POUT;
  if (!workspace || ((uintptr_t)workspace % 64) || (n && ((GL_PIN && !in_bits) || (nselect && !out_bits))))
    return -1;
  for (j = 0; select && j < nselect; j++)
    if (select[j] >= GL_POUT) return -1;
  if (!n || !nselect) return 0;
  if (threads < 1) threads = 1;
  GL_OMP_FOR
  for (i = 0; i < nblocks; i++) {
    int t = 0;
    const size_t w0 = (size_t)i * GL_PBLOCK / 64;
    const size_t nw = stride - w0 < GL_PBLOCK / 64 ? stride - w0 : GL_PBLOCK / 64;
    GL_THREAD_ID(t);
    gl_packed_block(in_bits, out_bits, stride, w0, nw, w0 + nw == stride ? last : ~(uint64_t)0, select, nselect,
                    (word_t *)workspace + (size_t)t * gl_packed_ws_words());
  }
  return 0;
}
