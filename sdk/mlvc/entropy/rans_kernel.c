/* The interleaved rANS loops of rans.py in C: the same integer arithmetic, symbol by symbol in
 * stream order, so the bytes and symbols are identical to the NumPy loops (tests/test_entropy.py
 * compares them).  NumPy's per-step overhead dominated decoding; this loop does not have it.
 * Compiled on first use by native.py with the system C compiler; without one, rans.py keeps
 * its NumPy loops.  Every index is checked: hostile streams must not read out of bounds. */
#include <stdint.h>

#define STATE_LOW ((int64_t)1 << 16)

/* Decodes n symbols; x: the lanes' states (updated), words: the word queue, tables: per-symbol
 * table id, lut: (table << precision | slot) -> freq << 32 | lo << 12 | symbol.
 * Returns the words consumed, -1 if the queue ran out, -2 for a table id out of range. */
int64_t mlvc_rans_decode(int64_t n, int64_t lanes, int64_t *x, const uint16_t *words,
                         int64_t nwords, const int64_t *tables, int64_t num_tables,
                         const int64_t *lut, int64_t precision, int64_t *out)
{
    const int64_t mask = ((int64_t)1 << precision) - 1;
    int64_t p = 0, lane = 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t t = tables[i];
        if (t < 0 || t >= num_tables)
            return -2;
        int64_t s = x[lane];
        const int64_t slot = s & mask;
        const int64_t packed = lut[(t << precision) + slot];
        out[i] = packed & 0xFFF;
        s = (packed >> 32) * (s >> precision) + slot - ((packed >> 12) & 0xFFFFF);
        if (s < STATE_LOW) {
            if (p >= nwords)
                return -1;
            s = (s << 16) | words[p++];
        }
        x[lane] = s;
        if (++lane == lanes)
            lane = 0;
    }
    return p;
}

/* Encodes n symbols (cumulative start lo, frequency freq) into lanes starting from x (all
 * STATE_LOW; the final states are left there).  Words go to buf[n - count .. n): the decoder
 * reads step 0 first and, within a step, lanes in ascending order.  Returns count, or -1 for a
 * frequency that is not positive. */
int64_t mlvc_rans_encode(int64_t n, int64_t lanes, const int64_t *lo, const int64_t *freq,
                         int64_t precision, int64_t *x, uint16_t *buf)
{
    int64_t back = n;
    const int64_t steps = (n + lanes - 1) / lanes;
    for (int64_t j = steps - 1; j >= 0; j--) {
        const int64_t first = j * lanes;
        const int64_t last = first + lanes < n ? first + lanes : n;
        /* lanes in descending order, filling buf from the back: the step's words then read in
         * ascending lane order, after the words of every earlier step */
        for (int64_t i = last - 1; i >= first; i--) {
            const int64_t f = freq[i];
            if (f <= 0)
                return -1;
            int64_t s = x[i - first];
            if (s >= (f << 16)) {
                buf[--back] = (uint16_t)(s & 0xFFFF);
                s >>= 16;
            }
            x[i - first] = ((s / f) << precision) + (s % f) + lo[i];
        }
    }
    return n - back;
}
