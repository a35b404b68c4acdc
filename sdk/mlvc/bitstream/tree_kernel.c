/* The block syntax of docs/bitstream.md §4c read in C: the same quadtree, merge candidates,
 * median predictor, binary and table symbols as inter_syntax.read_block_tree (the reference),
 * which tests/test_blocktree.py compares it with on valid and hostile substreams.  Every read
 * is bounds-checked; the caller (inter_syntax.py) has checked the substream's layout and makes
 * the §5 end checks on the state this leaves.  Integers only. */
#include <stdint.h>

enum { ERR_WORDS = -2, ERR_LANES = -3, ERR_SYMBOLS = -4, ERR_VECTOR = -5, ERR_CAPACITY = -6,
       ERR_LEAF = -7 };

/* inter_syntax.BlockMap: which PB covers each 8x8 unit, filled in coding order */
typedef struct {
    int64_t h, w, uh, uw;
    int32_t *owner;        /* uh x uw, -1 where not yet covered */
    int32_t *pbs;          /* rows of 8: y0 x0 size dy dx skip merge merge_idx */
    int64_t npb, cap;
} Map;

typedef struct {
    int64_t *x;            /* lane states */
    int64_t lanes, lane, count, max_symbols;
    const uint16_t *words;
    int64_t nwords, p;
    const int64_t *lut;    /* per table 65536 packed entries: k | lo << 12 | f << 32 */
    int64_t table, radius;
    int64_t mode;
    const int64_t *fs;     /* f_split[3] */
    int64_t f_merge, f_midx, f_skip;
    Map m;
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

static int32_t at(const Map *m, int64_t y, int64_t x)
{
    if (y < 0 || y >= m->h || x < 0 || x >= m->w) return -1;
    return m->owner[(y >> 3) * m->uw + (x >> 3)];
}

static int64_t median3(int64_t a, int64_t b, int64_t d)
{
    const int64_t lo = a < b ? a : b, hi = a < b ? b : a;
    const int64_t m = hi < d ? hi : d;
    return lo > m ? lo : m;
}

/* The merge candidates (BlockMap.candidates; returns how many) and the median predictor
 * (BlockMap.predictor) of a PB at (y0, x0, size). */
static int64_t neighbours(const Map *m, int64_t y0, int64_t x0, int64_t size,
                          int64_t cand[2][2], int64_t pred[2])
{
    const int32_t a = at(m, y0, x0 - 1), b = at(m, y0 - 1, x0 + size - 1),
                  d = at(m, y0 - 1, x0 - 1);
    int64_t n = 0;
    if (a >= 0) { cand[n][0] = m->pbs[a * 8 + 3]; cand[n][1] = m->pbs[a * 8 + 4]; n++; }
    if (b >= 0) {
        const int64_t by = m->pbs[b * 8 + 3], bx = m->pbs[b * 8 + 4];
        if (!(n == 1 && cand[0][0] == by && cand[0][1] == bx)) {
            cand[n][0] = by; cand[n][1] = bx; n++;
        }
    }
    if (n < 2 && !(n == 1 && cand[0][0] == 0 && cand[0][1] == 0)) {
        cand[n][0] = 0; cand[n][1] = 0; n++;
    }
    for (int k = 0; k < 2; k++)
        pred[k] = median3(a >= 0 ? m->pbs[a * 8 + 3 + k] : 0, b >= 0 ? m->pbs[b * 8 + 3 + k] : 0,
                          d >= 0 ? m->pbs[d * 8 + 3 + k] : 0);
    return n;
}

/* BlockMap.add (0, or ERR_CAPACITY) */
static int add_pb(Map *m, int64_t y0, int64_t x0, int64_t size, int64_t dy, int64_t dx,
                  int64_t skip, int64_t merge, int64_t idx)
{
    if (m->npb >= m->cap) return ERR_CAPACITY;
    int32_t *row = m->pbs + m->npb * 8;
    row[0] = (int32_t)y0; row[1] = (int32_t)x0; row[2] = (int32_t)size;
    row[3] = (int32_t)dy; row[4] = (int32_t)dx; row[5] = (int32_t)skip;
    row[6] = (int32_t)merge; row[7] = (int32_t)idx;
    const int64_t u0 = y0 >> 3, v0 = x0 >> 3, nu = size >> 3;
    for (int64_t u = u0; u < u0 + nu && u < m->uh; u++)
        for (int64_t v = v0; v < v0 + nu && v < m->uw; v++)
            m->owner[u * m->uw + v] = (int32_t)m->npb;
    m->npb++;
    return 0;
}

static void leaf(Ctx *c, int64_t y0, int64_t x0, int64_t size)
{
    int64_t cand[2][2], pred[2];
    const int64_t n = neighbours(&c->m, y0, x0, size, cand, pred);
    int64_t dy, dx, merge, idx = 0;
    merge = binary(c, c->f_merge);
    if (merge) {
        idx = n == 2 ? binary(c, c->f_midx) : 0;
        dy = cand[idx][0];
        dx = cand[idx][1];
    } else {
        const int64_t sy = symbol(c);
        const int64_t sx = symbol(c);
        dy = pred[0] + sy;
        dx = pred[1] + sx;
    }
    const int64_t skip = c->mode == 5 ? binary(c, c->f_skip) : 1;
    if (c->err) return;
    if (dy < -2048 || dy > 2047 || dx < -2048 || dx > 2047) { c->err = ERR_VECTOR; return; }
    c->err = add_pb(&c->m, y0, x0, size, dy, dx, skip, merge, idx);
}

static void node(Ctx *c, int64_t y0, int64_t x0, int64_t size, int64_t depth)
{
    if (c->err || y0 >= c->m.h || x0 >= c->m.w) return;
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
    c.mode = mode;
    c.fs = fs; c.f_merge = f_merge; c.f_midx = f_midx; c.f_skip = f_skip;
    c.m = (Map){h, w, (h + 7) / 8, (w + 7) / 8, owner, pbs, 0, cap};
    for (int64_t cy = 0; cy < h && !c.err; cy += 64)
        for (int64_t cx = 0; cx < w && !c.err; cx += 64)
            node(&c, cy, cx, 64, 0);
    io[0] = c.p; io[1] = c.count; io[2] = c.lane;
    return c.err ? c.err : c.m.npb;
}

/* -- the writer's symbols (inter_syntax.block_tree_symbols, the definition) ------------------ */
typedef struct {
    Map m;
    const int32_t *leaf;     /* per size 8, 16, 32, 64 (concatenated grids): leaf index or -1 */
    const int64_t *vals;     /* per leaf: dy dx skip */
    int64_t mode;
    int8_t *kinds;
    int32_t *values;
    int64_t nsym, symcap;
    int64_t *leaf_ends;
    int err;
} Writer;

static void put(Writer *t, int64_t kind, int64_t value)
{
    if (t->nsym >= t->symcap) { t->err = ERR_CAPACITY; return; }
    t->kinds[t->nsym] = (int8_t)kind;
    t->values[t->nsym++] = (int32_t)value;
}

static int32_t leaf_at(const Writer *t, int64_t y0, int64_t x0, int64_t size)
{
    int64_t o = 0;
    for (int64_t s = 8; s < size; s *= 2)
        o += ((t->m.h + s - 1) / s) * ((t->m.w + s - 1) / s);
    return t->leaf[o + (y0 / size) * ((t->m.w + size - 1) / size) + x0 / size];
}

static void write_node(Writer *t, int64_t y0, int64_t x0, int64_t size, int64_t depth)
{
    if (t->err || y0 >= t->m.h || x0 >= t->m.w) return;
    const int32_t i = leaf_at(t, y0, x0, size);
    if (size > 8) {
        put(t, depth, i < 0);
        if (i < 0) {
            const int64_t s = size / 2;
            write_node(t, y0, x0, s, depth + 1);
            write_node(t, y0, x0 + s, s, depth + 1);
            write_node(t, y0 + s, x0, s, depth + 1);
            write_node(t, y0 + s, x0 + s, s, depth + 1);
            return;
        }
    }
    if (t->err) return;
    if (i < 0) { t->err = ERR_LEAF; return; }
    const int64_t dy = t->vals[3 * i], dx = t->vals[3 * i + 1], skip = t->vals[3 * i + 2];
    if (dy < -2048 || dy > 2047 || dx < -2048 || dx > 2047) { t->err = ERR_VECTOR; return; }
    int64_t cand[2][2], pred[2];
    const int64_t n = neighbours(&t->m, y0, x0, size, cand, pred);
    int64_t merge = 0, idx = 0;
    for (int64_t k = n - 1; k >= 0; k--)      /* the first matching candidate */
        if (cand[k][0] == dy && cand[k][1] == dx) { merge = 1; idx = k; }
    put(t, 3, merge);
    if (merge) {
        if (n == 2) put(t, 4, idx);
    } else {
        put(t, 6, dy - pred[0]);
        put(t, 6, dx - pred[1]);
    }
    if (t->m.npb >= t->m.cap) { t->err = ERR_CAPACITY; return; }
    t->leaf_ends[t->m.npb] = t->nsym;
    if (t->mode == 5) put(t, 5, skip);
    if (t->err) return;
    t->err = add_pb(&t->m, y0, x0, size, dy, dx, t->mode == 5 ? skip : 1, merge, idx);
}

/* The symbols (kinds, values; at most symcap) of a block tree whose leaves are given per size
 * (leaf: for each node position of size 8, 16, 32, 64 the index of the leaf there or -1;
 * vals: dy dx skip per leaf), with the PBs (owner, pbs; at most cap) and leaf_ends.  Returns
 * the number of symbols, or a negative error (ERR_LEAF: a node without leaf or children). */
int64_t mlvc_tree_symbols(const int32_t *leaf, const int64_t *vals, int64_t h, int64_t w,
                          int64_t mode, int8_t *kinds, int32_t *values, int64_t symcap,
                          int32_t *owner, int32_t *pbs, int64_t *leaf_ends, int64_t cap,
                          int64_t *npb)
{
    Writer t = {{h, w, (h + 7) / 8, (w + 7) / 8, owner, pbs, 0, cap}, leaf, vals, mode, kinds,
                values, 0, symcap, leaf_ends, 0};
    for (int64_t i = 0; i < t.m.uh * t.m.uw; i++)
        owner[i] = -1;
    for (int64_t cy = 0; cy < h && !t.err; cy += 64)
        for (int64_t cx = 0; cx < w && !t.err; cx += 64)
            write_node(&t, cy, cx, 64, 0);
    *npb = t.m.npb;
    return t.err ? t.err : t.nsym;
}
