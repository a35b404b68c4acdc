/* The block syntax of docs/bitstream.md §4c read in C: the same quadtree, merge candidates,
 * median predictor, binary and table symbols as inter_syntax.read_block_tree (the reference),
 * which tests/test_blocktree.py compares it with on valid and hostile substreams.  Every read
 * is bounds-checked; the caller (inter_syntax.py) has checked the substream's layout and makes
 * the §5 end checks on the state this leaves.  Integers only. */
#include <stdint.h>

enum { ERR_WORDS = -2, ERR_LANES = -3, ERR_SYMBOLS = -4, ERR_VECTOR = -5, ERR_CAPACITY = -6 };

typedef struct {
    int64_t *x;            /* lane states */
    int64_t lanes, lane, count, max_symbols;
    const uint16_t *words;
    int64_t nwords, p;
    const int64_t *lut;    /* per table 65536 packed entries: k | lo << 12 | f << 32 */
    int64_t table, radius;
    int64_t h, w, uh, uw, mode;
    const int64_t *fs;     /* f_split[3] */
    int64_t f_merge, f_midx, f_skip;
    int32_t *owner;        /* uh x uw, -1 where not yet covered */
    int32_t *pbs;          /* rows of 8: y0 x0 size dy dx skip merge merge_idx */
    int64_t npb, cap;
    int err;
} Ctx;

static int64_t renorm(Ctx *c, int64_t x)
{
    if (x < 65536) {
        if (c->p >= c->nwords) { c->err = ERR_WORDS; return 65536; }
        x = (x << 16) | c->words[c->p++];
    }
    c->x[c->lane] = x;
    c->count++;
    if (++c->lane == c->lanes) c->lane = 0;
    return x;
}

static int check(Ctx *c)
{
    if (c->err) return 0;
    if (c->lanes == 0) { c->err = ERR_LANES; return 0; }
    if (c->count >= c->max_symbols) { c->err = ERR_SYMBOLS; return 0; }
    return 1;
}

static int binary(Ctx *c, int64_t f)
{
    if (!check(c)) return 0;
    const int64_t x = c->x[c->lane], slot = x & 0xFFFF;
    if (slot < f) {
        renorm(c, f * (x >> 16) + slot);
        return 0;
    }
    renorm(c, (65536 - f) * (x >> 16) + slot - f);
    return 1;
}

static int64_t symbol(Ctx *c)
{
    if (!check(c)) return 0;
    const int64_t x = c->x[c->lane], slot = x & 0xFFFF;
    const int64_t packed = c->lut[c->table * 65536 + slot];
    const int64_t k = packed & 0xFFF, lo = (packed >> 12) & 0xFFFFF, f = packed >> 32;
    renorm(c, f * (x >> 16) + slot - lo);
    return k - c->radius;
}

static int32_t at(const Ctx *c, int64_t y, int64_t x)
{
    if (y < 0 || y >= c->h || x < 0 || x >= c->w) return -1;
    return c->owner[(y >> 3) * c->uw + (x >> 3)];
}

static int64_t median3(int64_t a, int64_t b, int64_t d)
{
    const int64_t lo = a < b ? a : b, hi = a < b ? b : a;
    const int64_t m = hi < d ? hi : d;
    return lo > m ? lo : m;
}

static void leaf(Ctx *c, int64_t y0, int64_t x0, int64_t size)
{
    const int32_t a = at(c, y0, x0 - 1), b = at(c, y0 - 1, x0 + size - 1),
                  d = at(c, y0 - 1, x0 - 1);
    int64_t cand[2][2], n = 0;
    if (a >= 0) { cand[n][0] = c->pbs[a * 8 + 3]; cand[n][1] = c->pbs[a * 8 + 4]; n++; }
    if (b >= 0) {
        const int64_t by = c->pbs[b * 8 + 3], bx = c->pbs[b * 8 + 4];
        if (!(n == 1 && cand[0][0] == by && cand[0][1] == bx)) {
            cand[n][0] = by; cand[n][1] = bx; n++;
        }
    }
    if (n < 2 && !(n == 1 && cand[0][0] == 0 && cand[0][1] == 0)) {
        cand[n][0] = 0; cand[n][1] = 0; n++;
    }
    int64_t dy, dx, merge, idx = 0;
    merge = binary(c, c->f_merge);
    if (merge) {
        idx = n == 2 ? binary(c, c->f_midx) : 0;
        dy = cand[idx][0];
        dx = cand[idx][1];
    } else {
        const int64_t ay = a >= 0 ? c->pbs[a * 8 + 3] : 0, ax = a >= 0 ? c->pbs[a * 8 + 4] : 0;
        const int64_t by = b >= 0 ? c->pbs[b * 8 + 3] : 0, bx = b >= 0 ? c->pbs[b * 8 + 4] : 0;
        const int64_t ey = d >= 0 ? c->pbs[d * 8 + 3] : 0, ex = d >= 0 ? c->pbs[d * 8 + 4] : 0;
        const int64_t sy = symbol(c);
        const int64_t sx = symbol(c);
        dy = median3(ay, by, ey) + sy;
        dx = median3(ax, bx, ex) + sx;
    }
    const int64_t skip = c->mode == 5 ? binary(c, c->f_skip) : 1;
    if (c->err) return;
    if (dy < -2048 || dy > 2047 || dx < -2048 || dx > 2047) { c->err = ERR_VECTOR; return; }
    if (c->npb >= c->cap) { c->err = ERR_CAPACITY; return; }
    int32_t *row = c->pbs + c->npb * 8;
    row[0] = (int32_t)y0; row[1] = (int32_t)x0; row[2] = (int32_t)size;
    row[3] = (int32_t)dy; row[4] = (int32_t)dx; row[5] = (int32_t)skip;
    row[6] = (int32_t)merge; row[7] = (int32_t)idx;
    const int64_t u0 = y0 >> 3, v0 = x0 >> 3, nu = size >> 3;
    for (int64_t u = u0; u < u0 + nu && u < c->uh; u++)
        for (int64_t v = v0; v < v0 + nu && v < c->uw; v++)
            c->owner[u * c->uw + v] = (int32_t)c->npb;
    c->npb++;
}

static void node(Ctx *c, int64_t y0, int64_t x0, int64_t size, int64_t depth)
{
    if (c->err || y0 >= c->h || x0 >= c->w) return;
    if (size > 8 && binary(c, c->fs[depth])) {
        const int64_t s = size / 2;
        node(c, y0, x0, s, depth + 1);
        node(c, y0, x0 + s, s, depth + 1);
        node(c, y0 + s, x0, s, depth + 1);
        node(c, y0 + s, x0 + s, s, depth + 1);
    } else if (!c->err) {
        leaf(c, y0, x0, size);
    }
}

/* Returns the number of PBs read (>= 0) or a negative error code; state: lane states (in
 * place), io: {words consumed, symbols read, next lane} out. */
int64_t mlvc_read_block_tree(int64_t *state, int64_t lanes, const uint16_t *words,
                             int64_t nwords, int64_t max_symbols, const int64_t *lut,
                             int64_t table, int64_t radius, int64_t h, int64_t w, int64_t mode,
                             const int64_t *fs, int64_t f_merge, int64_t f_midx, int64_t f_skip,
                             int32_t *owner, int32_t *pbs, int64_t cap, int64_t *io)
{
    Ctx c = {0};
    c.x = state; c.lanes = lanes; c.words = words; c.nwords = nwords;
    c.max_symbols = max_symbols; c.lut = lut; c.table = table; c.radius = radius;
    c.h = h; c.w = w; c.uh = (h + 7) / 8; c.uw = (w + 7) / 8; c.mode = mode;
    c.fs = fs; c.f_merge = f_merge; c.f_midx = f_midx; c.f_skip = f_skip;
    c.owner = owner; c.pbs = pbs; c.cap = cap;
    for (int64_t cy = 0; cy < h && !c.err; cy += 64)
        for (int64_t cx = 0; cx < w && !c.err; cx += 64)
            node(&c, cy, cx, 64, 0);
    io[0] = c.p; io[1] = c.count; io[2] = c.lane;
    return c.err ? c.err : c.npb;
}
