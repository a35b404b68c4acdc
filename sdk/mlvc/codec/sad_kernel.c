/* Block sums of absolute differences for the encoder's motion search (sad.py), the same
 * integers as its NumPy code (tests/test_motion.py compares them).  Encoder only: nothing here
 * decides how a stream decodes, only which vectors the encoder picks.  Indices are clamped or
 * bounded by the caller's shapes. */
#include <stdint.h>

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
            const int32_t *pa = a + y * sa + j * block, *pb = b + y * sb + j * block;
            int32_t sum = 0;      /* block * 255 fits */
            for (int64_t x = 0; x < block; x++) {
                const int32_t d = pa[x] - pb[x];
                sum += d < 0 ? -d : d;
            }
            o[j] += sum;
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
            for (int64_t y = 0; y < block; y++) {
                int64_t ry = oy + y;
                ry = ry < 0 ? 0 : (ry > h - 1 ? h - 1 : ry);
                const int32_t *pc = cur + (i * block + y) * cols + j * block;
                const int32_t *pr = ref + ry * w;
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

/* SAD of every block of `cur` (rows x cols, contiguous) against the quarter-pixel prediction
 * read from `planes` (16 phase planes, each ph x pw, contiguous; plane (fy, fx) at index
 * 4 fy + fx, the picture's pixel (y, x) at (y + border, x + border)), one quarter-pixel vector
 * per block (mv: by x bx x 2): positions clamped into the planes (blocktree.phase_planes).
 * active: NULL, or one flag per block; an inactive block's SAD is not computed (0). */
void mlvc_qpel_block_sads(const int32_t *cur, int64_t rows, int64_t cols, const int32_t *planes,
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
            const int32_t *pl = planes + ((int64_t)((dy & 3) * 4 + (dx & 3))) * ph * pw;
            const int64_t oy = i * block + (dy >> 2) + border, ox = j * block + (dx >> 2) + border;
            const int inside = oy >= 0 && ox >= 0 && oy + block <= ph && ox + block <= pw;
            int64_t sum = 0;
            for (int64_t y = 0; y < block; y++) {
                const int32_t *pc = cur + (i * block + y) * cols + j * block;
                int64_t ry = oy + y;
                ry = ry < 0 ? 0 : (ry > ph - 1 ? ph - 1 : ry);
                const int32_t *pr = pl + ry * pw;
                if (inside) {
                    int32_t s = 0;
                    for (int64_t x = 0; x < block; x++) {
                        const int32_t d = pc[x] - pr[ox + x];
                        s += d < 0 ? -d : d;
                    }
                    sum += s;
                } else {
                    for (int64_t x = 0; x < block; x++) {
                        int64_t rx = ox + x;
                        rx = rx < 0 ? 0 : (rx > pw - 1 ? pw - 1 : rx);
                        const int32_t d = pc[x] - pr[rx];
                        sum += d < 0 ? -d : d;
                    }
                }
            }
            out[i * bx + j] = sum;
        }
    }
}

/* SAD of one size x size block at (y0, x0) of the picture `cur` (h x w, contiguous; rows and
 * columns past its edge clamped) against the quarter-pixel prediction by (dy, dx) read from
 * the phase planes as in mlvc_qpel_block_sads. */
int64_t mlvc_qpel_sad_one(const int32_t *cur, int64_t h, int64_t w, int64_t y0, int64_t x0,
                          int64_t size, const int32_t *planes, int64_t ph, int64_t pw,
                          int64_t border, int64_t dy, int64_t dx)
{
    const int32_t *pl = planes + ((dy & 3) * 4 + (dx & 3)) * ph * pw;
    const int64_t oy = y0 + (dy >> 2) + border, ox = x0 + (dx >> 2) + border;
    int64_t sum = 0;
    for (int64_t y = 0; y < size; y++) {
        int64_t cy = y0 + y;
        cy = cy > h - 1 ? h - 1 : cy;
        int64_t ry = oy + y;
        ry = ry < 0 ? 0 : (ry > ph - 1 ? ph - 1 : ry);
        const int32_t *pc = cur + cy * w, *pr = pl + ry * pw;
        for (int64_t x = 0; x < size; x++) {
            int64_t cx = x0 + x;
            cx = cx > w - 1 ? w - 1 : cx;
            int64_t rx = ox + x;
            rx = rx < 0 ? 0 : (rx > pw - 1 ? pw - 1 : rx);
            const int32_t d = pc[cx] - pr[rx];
            sum += d < 0 ? -d : d;
        }
    }
    return sum;
}
