/* Block sums of absolute differences for the encoder's motion search (sad.py), the same
 * integers as its NumPy code (tests/test_motion.py compares them).  Encoder only: nothing here
 * decides how a stream decodes, only which vectors the encoder picks.  Indices are clamped or
 * bounded by the caller's shapes. */
#include <stdint.h>
#include <stdlib.h>

/* SAD of one row of n bytes: the compiler turns this loop into psadbw (x86) / uabal (arm) */
static inline int32_t sad_row_u8(const uint8_t *a, const uint8_t *b, int64_t n)
{
    int32_t s = 0;
    for (int64_t x = 0; x < n; x++)
        s += abs((int32_t)a[x] - (int32_t)b[x]);
    return s;
}

static inline int32_t sad_row_i32(const int32_t *a, const int32_t *b, int64_t n)
{
    int32_t s = 0;      /* a block row of 255-range values fits */
    for (int64_t x = 0; x < n; x++) {
        const int32_t d = a[x] - b[x];
        s += d < 0 ? -d : d;
    }
    return s;
}

/* SAD of every block x block block of two planes (int32, row strides sa, sb), rows x cols a
 * multiple of block; out: (rows / block) x (cols / block). */
void mlvc_block_sads(const int32_t *a, int64_t sa, const int32_t *b, int64_t sb, int64_t rows,
                     int64_t cols, int64_t block, int64_t *out)
{
    const int64_t bx = cols / block, by = rows / block;
    for (int64_t i = 0; i < by * bx; i++)
        out[i] = 0;
    for (int64_t y = 0; y < rows; y++) {
        int64_t *o = out + (y / block) * bx;
        for (int64_t j = 0; j < bx; j++) {
            /* one block row: a short fixed-length loop the compiler vectorises */
            o[j] += sad_row_i32(a + y * sa + j * block, b + y * sb + j * block, block);
        }
    }
}

/* SAD of every block of `cur` (rows x cols, contiguous) against the whole-pixel prediction
 * from `ref` (h x w, contiguous) with one vector (dy, dx) per block (mv: by x bx x 2): the
 * block's origin clamped to [-pad, h - 1 + pad - block] (and the same for x), then every
 * pixel's coordinates clamped into the picture, as inter.py's _predict_blocks computes. */
void mlvc_mv_block_sads(const int32_t *cur, int64_t rows, int64_t cols, const int32_t *ref,
                        int64_t h, int64_t w, const int32_t *mv, int64_t block, int64_t pad,
                        int64_t *out)
{
    const int64_t by = rows / block, bx = cols / block;
    for (int64_t i = 0; i < by; i++) {
        for (int64_t j = 0; j < bx; j++) {
            int64_t oy = i * block + mv[(i * bx + j) * 2];
            int64_t ox = j * block + mv[(i * bx + j) * 2 + 1];
            oy = oy < -pad ? -pad : (oy > h - 1 + pad - block ? h - 1 + pad - block : oy);
            ox = ox < -pad ? -pad : (ox > w - 1 + pad - block ? w - 1 + pad - block : ox);
            int64_t sum = 0;
            const int inside = oy >= 0 && ox >= 0 && oy + block <= h && ox + block <= w;
            for (int64_t y = 0; y < block; y++) {
                int64_t ry = oy + y;
                ry = ry < 0 ? 0 : (ry > h - 1 ? h - 1 : ry);
                const int32_t *pc = cur + (i * block + y) * cols + j * block;
                const int32_t *pr = ref + ry * w;
                if (inside) {           /* no clamping: a loop the compiler vectorises */
                    sum += sad_row_i32(pc, pr + ox, block);
                    continue;
                }
                for (int64_t x = 0; x < block; x++) {
                    int64_t rx = ox + x;
                    rx = rx < 0 ? 0 : (rx > w - 1 ? w - 1 : rx);
                    const int32_t d = pc[x] - pr[rx];
                    sum += d < 0 ? -d : d;
                }
            }
            out[i * bx + j] = sum;
        }
    }
}

/* inter._full_search: for every block x block block of `cur` (rows x cols, contiguous), the
 * offset among `offs` (n pairs (dy, dx), in tie order) of lowest SAD against `rp` (the
 * reference edge-padded by `search`: (rows + 2 search) x (cols + 2 search), contiguous) plus
 * mv_cost * (|dy| + |dx|); the first of equal costs wins.  best: by x bx, mv: by x bx x 2.
 * A candidate stops being summed once it cannot win (its partial SAD only grows). */
void mlvc_full_search(const int32_t *cur, int64_t rows, int64_t cols, const int32_t *rp,
                      int64_t search, int64_t block, const int32_t *offs, int64_t n,
                      int64_t mv_cost, int64_t *best, int32_t *mv)
{
    const int64_t by = rows / block, bx = cols / block, rw = cols + 2 * search;
    for (int64_t i = 0; i < by; i++) {
        for (int64_t j = 0; j < bx; j++) {
            int64_t b = INT64_MAX;
            int32_t my = 0, mx = 0;
            for (int64_t k = 0; k < n; k++) {
                const int32_t dy = offs[2 * k], dx = offs[2 * k + 1];
                int64_t cost = mv_cost * ((dy < 0 ? -dy : dy) + (dx < 0 ? -dx : dx));
                const int32_t *pr = rp + (i * block + search + dy) * rw + j * block + search + dx;
                const int32_t *pc = cur + i * block * cols + j * block;
                for (int64_t y = 0; y < block && cost < b; y++)
                    cost += sad_row_i32(pc + y * cols, pr + y * rw, block);
                if (cost < b) {
                    b = cost;
                    my = dy;
                    mx = dx;
                }
            }
            best[i * bx + j] = b;
            mv[(i * bx + j) * 2] = my;
            mv[(i * bx + j) * 2 + 1] = mx;
        }
    }
}

/* SAD of every block of `cur` (rows x cols, contiguous, 0..255) against the quarter-pixel
 * prediction read from `planes` (16 phase planes, each ph x pw, contiguous; plane (fy, fx) at
 * index 4 fy + fx, the picture's pixel (y, x) at (y + border, x + border)), one quarter-pixel
 * vector per block (mv: by x bx x 2): positions clamped into the planes
 * (blocktree.phase_planes).  Bytes: a quarter of the memory traffic of int32, and psadbw.
 * active: NULL, or one flag per block; an inactive block's SAD is not computed (0). */
void mlvc_qpel_block_sads(const uint8_t *cur, int64_t rows, int64_t cols, const uint8_t *planes,
                          int64_t ph, int64_t pw, int64_t border, const int32_t *mv,
                          int64_t block, const int8_t *active, int64_t *out)
{
    const int64_t by = rows / block, bx = cols / block;
    for (int64_t i = 0; i < by; i++) {
        for (int64_t j = 0; j < bx; j++) {
            if (active && !active[i * bx + j]) {     /* the encoder's early termination */
                out[i * bx + j] = 0;
                continue;
            }
            const int32_t dy = mv[(i * bx + j) * 2], dx = mv[(i * bx + j) * 2 + 1];
            const uint8_t *pl = planes + ((int64_t)((dy & 3) * 4 + (dx & 3))) * ph * pw;
            const int64_t oy = i * block + (dy >> 2) + border, ox = j * block + (dx >> 2) + border;
            const int inside = oy >= 0 && ox >= 0 && oy + block <= ph && ox + block <= pw;
            int64_t sum = 0;
            for (int64_t y = 0; y < block; y++) {
                const uint8_t *pc = cur + (i * block + y) * cols + j * block;
                int64_t ry = oy + y;
                ry = ry < 0 ? 0 : (ry > ph - 1 ? ph - 1 : ry);
                const uint8_t *pr = pl + ry * pw;
                if (inside) {
                    sum += sad_row_u8(pc, pr + ox, block);
                } else {
                    for (int64_t x = 0; x < block; x++) {
                        int64_t rx = ox + x;
                        rx = rx < 0 ? 0 : (rx > pw - 1 ? pw - 1 : rx);
                        sum += abs((int32_t)pc[x] - (int32_t)pr[rx]);
                    }
                }
            }
            out[i * bx + j] = sum;
        }
    }
}

/* SAD of one size x size block at (y0, x0) of the picture `cur` (h x w, contiguous, 0..255;
 * rows and columns past its edge clamped) against the quarter-pixel prediction by (dy, dx)
 * read from the phase planes as in mlvc_qpel_block_sads. */
int64_t mlvc_qpel_sad_one(const uint8_t *cur, int64_t h, int64_t w, int64_t y0, int64_t x0,
                          int64_t size, const uint8_t *planes, int64_t ph, int64_t pw,
                          int64_t border, int64_t dy, int64_t dx)
{
    const uint8_t *pl = planes + ((dy & 3) * 4 + (dx & 3)) * ph * pw;
    const int64_t oy = y0 + (dy >> 2) + border, ox = x0 + (dx >> 2) + border;
    const int inside = y0 + size <= h && x0 + size <= w && oy >= 0 && ox >= 0
                       && oy + size <= ph && ox + size <= pw;
    int64_t sum = 0;
    for (int64_t y = 0; y < size; y++) {
        int64_t cy = y0 + y;
        cy = cy > h - 1 ? h - 1 : cy;
        int64_t ry = oy + y;
        ry = ry < 0 ? 0 : (ry > ph - 1 ? ph - 1 : ry);
        const uint8_t *pc = cur + cy * w, *pr = pl + ry * pw;
        if (inside) {
            sum += sad_row_u8(pc + x0, pr + ox, size);
            continue;
        }
        for (int64_t x = 0; x < size; x++) {
            int64_t cx = x0 + x;
            cx = cx > w - 1 ? w - 1 : cx;
            int64_t rx = ox + x;
            rx = rx < 0 ? 0 : (rx > pw - 1 ? pw - 1 : rx);
            sum += abs((int32_t)pc[cx] - (int32_t)pr[rx]);
        }
    }
    return sum;
}
