/* Block sums of absolute differences for the encoder's motion search (sad.py), the same
 * integers as its NumPy code (tests/test_motion.py compares them).  Encoder only: nothing here
 * decides how a stream decodes, only which vectors the encoder picks.  Indices are clamped or
 * bounded by the caller's shapes. */
#include <stdint.h>
#include <math.h>
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

/* The two whole-pixel searches below, written once for int32 planes (any values) and for
 * bytes (the luma proxy: psadbw); the same integers either way. */
static inline int32_t absdiff(int32_t a, int32_t b)
{
    return a < b ? b - a : a - b;
}

/* SAD of every block of `cur` (rows x cols, contiguous) against the whole-pixel prediction
 * from `ref` (h x w, contiguous) with one vector (dy, dx) per block (mv: by x bx x 2): the
 * block's origin clamped to [-pad, h - 1 + pad - block] (and the same for x), then every
 * pixel's coordinates clamped into the picture, as inter.py's _predict_blocks computes. */
#define MV_BLOCK_SADS(NAME, T, SAD_ROW)                                                       \
void NAME(const T *cur, int64_t rows, int64_t cols, const T *ref, int64_t h, int64_t w,       \
          const int32_t *mv, int64_t block, int64_t pad, int64_t *out)                        \
{                                                                                             \
    const int64_t by = rows / block, bx = cols / block;                                       \
    for (int64_t i = 0; i < by; i++) {                                                        \
        for (int64_t j = 0; j < bx; j++) {                                                    \
            int64_t oy = i * block + mv[(i * bx + j) * 2];                                    \
            int64_t ox = j * block + mv[(i * bx + j) * 2 + 1];                                \
            oy = oy < -pad ? -pad : (oy > h - 1 + pad - block ? h - 1 + pad - block : oy);    \
            ox = ox < -pad ? -pad : (ox > w - 1 + pad - block ? w - 1 + pad - block : ox);    \
            int64_t sum = 0;                                                                  \
            const int inside = oy >= 0 && ox >= 0 && oy + block <= h && ox + block <= w;      \
            for (int64_t y = 0; y < block; y++) {                                             \
                int64_t ry = oy + y;                                                          \
                ry = ry < 0 ? 0 : (ry > h - 1 ? h - 1 : ry);                                  \
                const T *pc = cur + (i * block + y) * cols + j * block;                       \
                const T *pr = ref + ry * w;                                                   \
                if (inside) {           /* no clamping: a loop the compiler vectorises */     \
                    sum += SAD_ROW(pc, pr + ox, block);                                       \
                    continue;                                                                 \
                }                                                                             \
                for (int64_t x = 0; x < block; x++) {                                         \
                    int64_t rx = ox + x;                                                      \
                    rx = rx < 0 ? 0 : (rx > w - 1 ? w - 1 : rx);                              \
                    sum += absdiff(pc[x], pr[rx]);                                            \
                }                                                                             \
            }                                                                                 \
            out[i * bx + j] = sum;                                                            \
        }                                                                                     \
    }                                                                                         \
}
MV_BLOCK_SADS(mlvc_mv_block_sads, int32_t, sad_row_i32)
MV_BLOCK_SADS(mlvc_mv_block_sads_u8, uint8_t, sad_row_u8)

/* inter._full_search: for every block x block block of `cur` (rows x cols, contiguous), the
 * offset among `offs` (n pairs (dy, dx), in tie order) of lowest SAD against `rp` (the
 * reference edge-padded by `search`: (rows + 2 search) x (cols + 2 search), contiguous) plus
 * mv_cost * (|dy| + |dx|); the first of equal costs wins.  best: by x bx, mv: by x bx x 2.
 * A candidate stops being summed once it cannot win (its partial SAD only grows). */
#define FULL_SEARCH(NAME, T, SAD_ROW)                                                         \
void NAME(const T *cur, int64_t rows, int64_t cols, const T *rp, int64_t search,              \
          int64_t block, const int32_t *offs, int64_t n, int64_t mv_cost, int64_t *best,      \
          int32_t *mv)                                                                        \
{                                                                                             \
    const int64_t by = rows / block, bx = cols / block, rw = cols + 2 * search;               \
    for (int64_t i = 0; i < by; i++) {                                                        \
        for (int64_t j = 0; j < bx; j++) {                                                    \
            int64_t b = INT64_MAX;                                                            \
            int32_t my = 0, mx = 0;                                                           \
            for (int64_t k = 0; k < n; k++) {                                                 \
                const int32_t dy = offs[2 * k], dx = offs[2 * k + 1];                         \
                int64_t cost = mv_cost * ((dy < 0 ? -dy : dy) + (dx < 0 ? -dx : dx));         \
                const T *pr = rp + (i * block + search + dy) * rw + j * block + search + dx;  \
                const T *pc = cur + i * block * cols + j * block;                             \
                for (int64_t y = 0; y < block && cost < b; y++)                               \
                    cost += SAD_ROW(pc + y * cols, pr + y * rw, block);                       \
                if (cost < b) {                                                               \
                    b = cost;                                                                 \
                    my = dy;                                                                  \
                    mx = dx;                                                                  \
                }                                                                             \
            }                                                                                 \
            best[i * bx + j] = b;                                                             \
            mv[(i * bx + j) * 2] = my;                                                        \
            mv[(i * bx + j) * 2 + 1] = mx;                                                    \
        }                                                                                     \
    }                                                                                         \
}
FULL_SEARCH(mlvc_full_search, int32_t, sad_row_i32)
FULL_SEARCH(mlvc_full_search_u8, uint8_t, sad_row_u8)

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

/* -- the block tree's leaf decisions (blocktree.TreeSearch.decide's walk, its definition) -- */
typedef struct {
    int64_t h, w, uh, uw;
    int32_t *owner;          /* uh x uw: PB index per 8x8 unit, -1 before it is coded */
    int32_t *rows;           /* per PB: y0 x0 size dy dx */
    int64_t n, cap;
    const int8_t *split;     /* per size 16, 32, 64: its nodes' split flags (row-major) */
    const int64_t *off;      /* per size 8, 16, 32, 64: offset of its blocks in mv / sad, or -1 */
    const int32_t *mv;       /* per size: the best vector of each block */
    const int64_t *sad;
    const double *bits;      /* mv_bits' table (8192 entries) */
    double mu;
    int64_t max_diff;
    const uint8_t *cur, *planes;
    int64_t ph, pw, border;
} Tree;

static const int32_t *pb_mv(const Tree *t, int64_t y, int64_t x)
{
    if (y < 0 || y >= t->h || x < 0 || x >= t->w)
        return 0;
    const int32_t i = t->owner[(y >> 3) * t->uw + (x >> 3)];
    return i < 0 ? 0 : t->rows + i * 5 + 3;
}

static int64_t med3(int64_t a, int64_t b, int64_t c)
{
    const int64_t lo = a < b ? a : b, hi = a < b ? b : a, m = hi < c ? hi : c;
    return lo > m ? lo : m;
}

static inline int64_t iabs(int64_t v)
{
    return v < 0 ? -v : v;
}

/* sad + mu * x with Python's rounding: the product rounded on its own (volatile: no fused
 * multiply-add, which compilers for arm64 would otherwise contract it to) */
static double cost_of(int64_t sad, double mu, double x)
{
    volatile double p = mu * x;
    return (double)sad + p;
}

static int tree_leaf(Tree *t, int64_t y0, int64_t x0, int64_t size)
{
    const int k = size == 8 ? 0 : size == 16 ? 1 : size == 32 ? 2 : 3;
    if (t->off[k] < 0 || t->n >= t->cap)
        return -1;
    const int64_t gx = (t->w + size - 1) / size, b = t->off[k] + (y0 / size) * gx + x0 / size;
    const int64_t oy = t->mv[2 * b], ox = t->mv[2 * b + 1], own_sad = t->sad[b];
    const int32_t *a = pb_mv(t, y0, x0 - 1), *bb = pb_mv(t, y0 - 1, x0 + size - 1),
                  *d = pb_mv(t, y0 - 1, x0 - 1);
    /* the median predictor and the merge candidates of inter_syntax.BlockMap */
    const int64_t py = med3(a ? a[0] : 0, bb ? bb[0] : 0, d ? d[0] : 0),
                  px = med3(a ? a[1] : 0, bb ? bb[1] : 0, d ? d[1] : 0);
    int64_t cand[2][2], n = 0;
    if (a) { cand[n][0] = a[0]; cand[n][1] = a[1]; n++; }
    if (bb && !(n == 1 && cand[0][0] == bb[0] && cand[0][1] == bb[1])) {
        cand[n][0] = bb[0]; cand[n][1] = bb[1]; n++;
    }
    if (n < 2 && !(n == 1 && cand[0][0] == 0 && cand[0][1] == 0)) {
        cand[n][0] = 0; cand[n][1] = 0; n++;
    }
    const int64_t ey = iabs(oy - py), ex = iabs(ox - px);
    double best = cost_of(own_sad, t->mu,
                          1.0 + (t->bits[ey < 8191 ? ey : 8191] + t->bits[ex < 8191 ? ex : 8191]));
    if ((ey > ex ? ey : ex) > t->max_diff)
        best = HUGE_VAL;        /* no table codes that difference: merge */
    int64_t my = oy, mx = ox;
    for (int64_t i = 0; i < n; i++) {
        const int64_t cy = cand[i][0], cx = cand[i][1];
        const int64_t s = cy == oy && cx == ox ? own_sad
            : mlvc_qpel_sad_one(t->cur, t->h, t->w, y0, x0, size, t->planes, t->ph, t->pw,
                                t->border, cy, cx);
        const double c = cost_of(s, t->mu, 1.0 + (n == 2));
        if (c < best) {
            best = c; my = cy; mx = cx;
        }
    }
    int32_t *row = t->rows + t->n * 5;
    row[0] = (int32_t)y0; row[1] = (int32_t)x0; row[2] = (int32_t)size;
    row[3] = (int32_t)my; row[4] = (int32_t)mx;
    const int64_t u0 = y0 >> 3, v0 = x0 >> 3, nu = size >> 3;
    for (int64_t u = u0; u < u0 + nu && u < t->uh; u++)
        for (int64_t v = v0; v < v0 + nu && v < t->uw; v++)
            t->owner[u * t->uw + v] = (int32_t)t->n;
    t->n++;
    return 0;
}

static int tree_node(Tree *t, int64_t y0, int64_t x0, int64_t size)
{
    if (y0 >= t->h || x0 >= t->w)
        return 0;
    if (size > 8) {
        const int k = size == 16 ? 0 : size == 32 ? 1 : 2;
        int64_t o = 0;
        for (int j = 0, s = 16; j < k; j++, s *= 2)
            o += ((t->h + s - 1) / s) * ((t->w + s - 1) / s);
        if (t->split[o + (y0 / size) * ((t->w + size - 1) / size) + x0 / size]) {
            const int64_t s = size / 2;
            return tree_node(t, y0, x0, s) || tree_node(t, y0, x0 + s, s)
                || tree_node(t, y0 + s, x0, s) || tree_node(t, y0 + s, x0 + s, s);
        }
    }
    return tree_leaf(t, y0, x0, size);
}

/* The leaves of a block tree in coding order (rows: y0 x0 size dy dx, at most cap), their
 * vectors by merge decisions as in TreeSearch.decide: split flags per node, per size its
 * blocks' best vectors and SADs; the cost of a PB's own vector is sad + mu (1 + bits of its
 * difference from the median predictor), of a merge candidate sad + mu (1 + (2 candidates)),
 * the lowest wins (the earlier on ties).  Returns the number of PBs, or -1 (a leaf of a size
 * without vectors, or more than cap PBs). */
int64_t mlvc_tree_decide(const uint8_t *cur, int64_t h, int64_t w, const uint8_t *planes,
                         int64_t ph, int64_t pw, int64_t border, const int8_t *split,
                         const int64_t *off, const int32_t *mv, const int64_t *sad,
                         const double *bits, double mu, int64_t max_diff, int32_t *owner,
                         int32_t *rows, int64_t cap)
{
    Tree t = {h, w, (h + 7) / 8, (w + 7) / 8, owner, rows, 0, cap, split, off, mv, sad, bits,
              mu, max_diff, cur, planes, ph, pw, border};
    for (int64_t i = 0; i < t.uh * t.uw; i++)
        owner[i] = -1;
    for (int64_t cy = 0; cy < h; cy += 64)
        for (int64_t cx = 0; cx < w; cx += 64)
            if (tree_node(&t, cy, cx, 64))
                return -1;
    return t.n;
}
