/* The §4c quarter-pixel prediction (decoder and encoder) and the encoder's 16 phase planes:
 * the same integers as blocktree.predict / blocktree.phase_planes, written the way the spec
 * states them (every tap coordinate clamped to the picture), about 20x faster than NumPy.
 * Integer arithmetic only; tests/test_blocktree.py compares both paths. */
#include <stdint.h>

static const int32_t TAPS[4][8] = {{0, 0, 0, 64, 0, 0, 0, 0},
                                   {-1, 4, -10, 58, 17, -5, 1, 0},
                                   {-1, 4, -11, 40, 40, -11, 4, -1},
                                   {0, 1, -5, 17, 58, -10, 4, -1}};

static inline int64_t clampi(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* acc[i] += c * src[i] for a row (c == 0: nothing); contiguous, so it vectorises */
static inline void add_scaled(int32_t *acc, int32_t c, const int32_t *src, int64_t n)
{
    if (!c)
        return;
    for (int64_t i = 0; i < n; i++)
        acc[i] += c * src[i];
}

static inline uint8_t clamp8(int32_t v)
{
    return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

/* ref: h x w x c uint8 (contiguous); mv: uh x uw x 2 int32 (quarter pixels, one per 8x8 unit);
 * out: h x w x c uint8.  Per pixel: hor[k] = sum_j c[fx][j] R(y+iy+k-3, x+ix+j-3) (clamped),
 * pred = clamp((sum_k c[fy][k] hor[k] + 2048) >> 12); whole vectors copy the clamped pixel. */
void mlvc_tree_predict(const uint8_t *ref, int64_t h, int64_t w, int64_t c, const int32_t *mv,
                       int64_t uh, int64_t uw, uint8_t *out)
{
    int32_t hor[15][8];
    int64_t cols[15];
    for (int64_t uy = 0; uy < uh; uy++) {
        for (int64_t ux = 0; ux < uw; ux++) {
            const int32_t dy = mv[(uy * uw + ux) * 2], dx = mv[(uy * uw + ux) * 2 + 1];
            const int64_t iy = dy >> 2, ix = dx >> 2;      /* arithmetic shift: floor */
            const int fy = dy & 3, fx = dx & 3;
            const int64_t y0 = uy * 8, x0 = ux * 8;
            const int64_t ny = h - y0 < 8 ? h - y0 : 8, nx = w - x0 < 8 ? w - x0 : 8;
            for (int64_t j = 0; j < 15; j++)
                cols[j] = clampi(x0 + ix + j - 3, 0, w - 1);
            for (int64_t ch = 0; ch < c; ch++) {
                if (fy == 0 && fx == 0) {
                    for (int64_t y = 0; y < ny; y++) {
                        const uint8_t *row = ref + clampi(y0 + iy + y, 0, h - 1) * w * c;
                        uint8_t *o = out + ((y0 + y) * w + x0) * c + ch;
                        for (int64_t x = 0; x < nx; x++)
                            o[x * c] = row[cols[x + 3] * c + ch];
                    }
                    continue;
                }
                const int32_t *cx = TAPS[fx], *cy = TAPS[fy];
                for (int64_t k = 0; k < ny + 7; k++) {
                    const uint8_t *row = ref + clampi(y0 + iy + k - 3, 0, h - 1) * w * c + ch;
                    for (int64_t x = 0; x < nx; x++) {
                        int32_t s = 0;
                        for (int j = 0; j < 8; j++)
                            s += cx[j] * (int32_t)row[cols[x + j] * c];
                        hor[k][x] = s;
                    }
                }
                for (int64_t y = 0; y < ny; y++) {
                    uint8_t *o = out + ((y0 + y) * w + x0) * c + ch;
                    for (int64_t x = 0; x < nx; x++) {
                        int32_t s = 0;
                        for (int k = 0; k < 8; k++)
                            s += cy[k] * hor[y + k][x];
                        o[x * c] = clamp8((s + 2048) >> 12);
                    }
                }
            }
        }
    }
}

/* plane: h x w int32 (contiguous, 0..255); out: 4 x 4 x (h + 2b) x (w + 2b) uint8 with
 * out[fy][fx][b + y][b + x] = the prediction of pixel (y, x) by the vector (fy, fx) in quarter
 * pixels, for y in -b .. h - 1 + b (taps clamped to the picture); scratch: (h + 2b + 9) x
 * (w + 2b + 7) int32: each fx's horizontal pass (rows -b-3 .. h-1+b+4), a clamped source row
 * and a vertical accumulator (loops over contiguous rows, so the compiler vectorises them). */
void mlvc_phase_planes(const int32_t *plane, int64_t h, int64_t w, int64_t b, uint8_t *out,
                       int32_t *scratch)
{
    const int64_t ho = h + 2 * b, wo = w + 2 * b, rows = ho + 7;
    int32_t *src = scratch + rows * wo, *acc = src + wo + 7;
    for (int fx = 0; fx < 4; fx++) {
        const int32_t *cx = TAPS[fx];
        for (int64_t r = 0; r < rows; r++) {
            const int32_t *row = plane + clampi(r - b - 3, 0, h - 1) * w;
            for (int64_t i = 0; i < wo + 7; i++)           /* src[i]: column i - b - 3 */
                src[i] = row[clampi(i - b - 3, 0, w - 1)];
            int32_t *hr = scratch + r * wo;
            for (int64_t xo = 0; xo < wo; xo++)
                hr[xo] = 0;
            for (int j = 0; j < 8; j++)
                add_scaled(hr, cx[j], src + j, wo);
        }
        for (int fy = 0; fy < 4; fy++) {
            const int32_t *cy = TAPS[fy];
            uint8_t *o = out + (fy * 4 + fx) * ho * wo;
            for (int64_t yo = 0; yo < ho; yo++) {
                for (int64_t xo = 0; xo < wo; xo++)
                    acc[xo] = 2048;
                for (int k = 0; k < 8; k++)
                    add_scaled(acc, cy[k], scratch + (yo + k) * wo, wo);
                uint8_t *oy = o + yo * wo;
                for (int64_t xo = 0; xo < wo; xo++)
                    oy[xo] = clamp8(acc[xo] >> 12);
            }
        }
    }
}

/* The encoder's distortion: per 8x8 unit of two h x w x c uint8 pictures (contiguous), the sum
 * of squared differences over the unit's pixels inside the picture and every channel (out:
 * ceil(h / 8) x ceil(w / 8)), as blocktree.unit_sse_numpy. */
void mlvc_unit_sse(const uint8_t *a, const uint8_t *b, int64_t h, int64_t w, int64_t c,
                   int64_t *out)
{
    const int64_t uw = (w + 7) / 8, uh = (h + 7) / 8;
    for (int64_t i = 0; i < uh * uw; i++)
        out[i] = 0;
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *pa = a + y * w * c, *pb = b + y * w * c;
        int64_t *o = out + (y / 8) * uw;
        for (int64_t u = 0; u < uw; u++) {
            const int64_t x1 = (u * 8 + 8 < w ? u * 8 + 8 : w) * c;
            int32_t s = 0;       /* 8 pixels x c channels x 255^2 fits for c <= 4 */
            for (int64_t x = u * 8 * c; x < x1; x++) {
                const int32_t d = (int32_t)pa[x] - (int32_t)pb[x];
                s += d * d;
            }
            o[u] += s;
        }
    }
}

/* One line across an edge (blocktree._filter_lines): p0 and q0 change, p1 and q1 are read
 * before (q1 may be q0 itself at the picture's edge) */
static inline void filter_line(uint8_t *p0, uint8_t *q0, int32_t p1, int32_t q1, int32_t tc)
{
    const int32_t a = *p0, b = *q0;
    const int32_t dab = a - b, dpa = p1 - a, dqb = q1 - b;
    if ((dab < 0 ? -dab : dab) < 4 * tc && (dpa < 0 ? -dpa : dpa) < 2 * tc
        && (dqb < 0 ? -dqb : dqb) < 2 * tc) {
        int32_t d = ((b - a) * 4 + (p1 - q1) + 4) >> 3;
        d = d < -tc ? -tc : (d > tc ? tc : d);
        *p0 = clamp8(a + d);
        *q0 = clamp8(b - d);
    }
}

/* The §4c deblocking filter in place (blocktree.deblock_numpy): pic h x w x c uint8
 * (contiguous); vflags: uh x (uw - 1), the filtered edges left of units 1.., hflags:
 * (uh - 1) x uw, above rows 1..; the vertical edges first, then the horizontal ones on that
 * result.  In one pass no edge reads a sample another edge writes (edges are 8 apart). */
void mlvc_deblock(uint8_t *pic, int64_t h, int64_t w, int64_t c, const uint8_t *vflags,
                  const uint8_t *hflags, int64_t tc)
{
    const int64_t uh = (h + 7) / 8, uw = (w + 7) / 8, row = w * c;
    for (int64_t y = 0; y < h; y++) {
        uint8_t *r = pic + y * row;
        for (int64_t e = 0; e + 1 < uw; e++) {
            if (!vflags[(y / 8) * (uw - 1) + e])
                continue;
            const int64_t pos = 8 * (e + 1), q1 = pos + 1 < w ? pos + 1 : w - 1;
            for (int64_t ch = 0; ch < c; ch++)
                filter_line(r + (pos - 1) * c + ch, r + pos * c + ch, r[(pos - 2) * c + ch],
                            r[q1 * c + ch], (int32_t)tc);
        }
    }
    for (int64_t e = 0; e + 1 < uh; e++) {
        const int64_t pos = 8 * (e + 1), q1 = pos + 1 < h ? pos + 1 : h - 1;
        uint8_t *rp1 = pic + (pos - 2) * row, *rp0 = pic + (pos - 1) * row,
                *rq0 = pic + pos * row, *rq1 = pic + q1 * row;
        for (int64_t x = 0; x < w; x++) {
            if (!hflags[e * uw + x / 8])
                continue;
            for (int64_t ch = 0; ch < c; ch++) {
                const int64_t i = x * c + ch;
                filter_line(rp0 + i, rq0 + i, rp1[i], rq1[i], (int32_t)tc);
            }
        }
    }
}
