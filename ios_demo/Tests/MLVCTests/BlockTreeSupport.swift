import Foundation
import XCTest
@testable import MLVC

// Test-only §4c tools, written straight from docs/bitstream.md §4c and independent of the
// decoder's code: a rANS encoder over explicit (lo, f) ranges, a block-syntax writer with its own
// neighbour search, and literal per-pixel transcriptions of the interpolation and deblocking.

/// One coded symbol: its interval [lo, lo + f) of 65536.
struct CodedSymbol {
    let lo: UInt64
    let f: UInt64

    /// A binary symbol of frequency `freq` (cdf [0, freq, 65536]).
    static func binary(_ k: Int, _ freq: Int) -> CodedSymbol {
        k == 0 ? CodedSymbol(lo: 0, f: UInt64(freq)) : CodedSymbol(lo: UInt64(freq), f: UInt64(65536 - freq))
    }

    /// Table-local index `k` of table `t`.
    static func table(_ k: Int, _ t: Int, _ cdf: CdfTables) -> CodedSymbol {
        let base = cdf.start[t]
        let lo = UInt64(cdf.cdf[base + k])
        return CodedSymbol(lo: lo, f: UInt64(cdf.cdf[base + k + 1]) - lo)
    }
}

/// The §5 encoder over explicit intervals (symbols in reverse order; emit the low 16 bits while
/// x >= f << 16; lanes start at 2^16). `lanes` 0 only for no symbols.
func ransEncodeSymbols(_ s: [CodedSymbol], lanes: Int) -> [UInt8] {
    var x = [UInt64](repeating: Rans.stateLow, count: lanes)
    var words = [UInt16]()
    for i in stride(from: s.count - 1, through: 0, by: -1) {
        let lane = i % lanes
        var v = x[lane]
        while v >= s[i].f << 16 { words.append(UInt16(v & 0xFFFF)); v >>= 16 }
        x[lane] = ((v / s[i].f) << 16) + (v % s[i].f) + s[i].lo
    }
    words.reverse()
    var out = [UInt8]()
    func put16(_ v: UInt16) { out.append(UInt8(v & 0xFF)); out.append(UInt8(v >> 8)) }
    func put32(_ v: UInt32) { put16(UInt16(v & 0xFFFF)); put16(UInt16(v >> 16)) }
    put16(UInt16(lanes)); put32(UInt32(words.count))
    for v in x { put32(UInt32(v)) }
    for w in words { put16(w) }
    return out
}

func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }

/// The block-tree syntax as an encoder would write it: walks the CTUs and quadtrees exactly as
/// §4c says, asking `Choices` for every decision, and records the symbols and the blocks the
/// decoder must produce. Neighbours are found by searching the blocks written so far (no grid).
struct BlockTreeWriter {
    struct Block: Equatable {
        let y: Int, x: Int, size: Int
        let dy: Int, dx: Int
        let merge: Bool, mergeIndex: Int, skip: Bool
        func contains(_ py: Int, _ px: Int) -> Bool { py >= y && py < y + size && px >= x && px < x + size }
    }

    /// What a prediction block chooses. `diff` is used when `merge` is false; `mergeIndex` when
    /// two candidates exist.
    struct PBChoice {
        var merge: Bool
        var mergeIndex: Int
        var diff: (Int, Int)
        var skip: Bool
    }

    let width: Int
    let height: Int
    let mode: UInt8             // 4 or 5
    let mvTable: Int
    let cdf: CdfTables
    var freqs: [Int]            // split[0..2], merge, merge index, skip
    var deblock: Int
    var symbols = [CodedSymbol]()
    var blocks = [Block]()
    /// Components written outside -2048...2047 (a hostile tree).
    var outOfRange = false

    init(width: Int, height: Int, mode: UInt8, mvTable: Int, cdf: CdfTables, freqs: [Int], deblock: Int) {
        self.width = width; self.height = height; self.mode = mode; self.mvTable = mvTable
        self.cdf = cdf; self.freqs = freqs; self.deblock = deblock
    }

    func blockAt(_ y: Int, _ x: Int) -> Block? {
        guard y >= 0, x >= 0, y < height, x < width else { return nil }
        return blocks.first { $0.contains(y, x) }
    }

    /// Merge candidates of a block at (y0, x0) of `size`, and the median predictor.
    func candidates(_ y0: Int, _ x0: Int, _ size: Int) -> (cands: [(Int, Int)], mvp: (Int, Int)) {
        let a = blockAt(y0, x0 - 1), b = blockAt(y0 - 1, x0 + size - 1), d = blockAt(y0 - 1, x0 - 1)
        var list = [(Int, Int)]()
        if let a { list.append((a.dy, a.dx)) }
        if let b, !(a != nil && (a!.dy, a!.dx) == (b.dy, b.dx)) { list.append((b.dy, b.dx)) }
        if !list.contains(where: { $0 == (0, 0) }) { list.append((0, 0)) }
        list = Array(list.prefix(2))
        func med(_ p: Int, _ q: Int, _ r: Int) -> Int { [p, q, r].sorted()[1] }
        let va = a.map { ($0.dy, $0.dx) } ?? (0, 0), vb = b.map { ($0.dy, $0.dx) } ?? (0, 0)
        let vd = d.map { ($0.dy, $0.dx) } ?? (0, 0)
        return (list, (med(va.0, vb.0, vd.0), med(va.1, vb.1, vd.1)))
    }

    mutating func write(split: (Int, Int, Int, Int) -> Bool,
                        block: (Int, Int, Int, [(Int, Int)], (Int, Int)) -> PBChoice) {
        for cy in 0..<((height + 63) / 64) {
            for cx in 0..<((width + 63) / 64) { node(cy * 64, cx * 64, 64, 0, split, block) }
        }
    }

    private mutating func node(_ y0: Int, _ x0: Int, _ size: Int, _ depth: Int,
                               _ split: (Int, Int, Int, Int) -> Bool,
                               _ block: (Int, Int, Int, [(Int, Int)], (Int, Int)) -> PBChoice) {
        if y0 >= height || x0 >= width { return }
        var s = false
        if size > 8 {
            s = split(y0, x0, size, depth)
            symbols.append(.binary(s ? 1 : 0, freqs[depth]))
        }
        if s {
            let h = size / 2
            node(y0, x0, h, depth + 1, split, block); node(y0, x0 + h, h, depth + 1, split, block)
            node(y0 + h, x0, h, depth + 1, split, block); node(y0 + h, x0 + h, h, depth + 1, split, block)
            return
        }
        let (cands, mvp) = candidates(y0, x0, size)
        var c = block(y0, x0, size, cands, mvp)
        symbols.append(.binary(c.merge ? 1 : 0, freqs[3]))
        var mv: (Int, Int)
        if c.merge {
            if cands.count == 2 { symbols.append(.binary(c.mergeIndex, freqs[4])) } else { c.mergeIndex = 0 }
            mv = cands[c.mergeIndex]
        } else {
            c.mergeIndex = 0
            let r = Int(cdf.radius[mvTable])
            symbols.append(.table(c.diff.0 + r, mvTable, cdf))
            symbols.append(.table(c.diff.1 + r, mvTable, cdf))
            mv = (mvp.0 + c.diff.0, mvp.1 + c.diff.1)
        }
        if mode == 5 { symbols.append(.binary(c.skip ? 1 : 0, freqs[5])) } else { c.skip = true }
        if !(-2048...2047).contains(mv.0) || !(-2048...2047).contains(mv.1) { outOfRange = true }
        blocks.append(Block(y: y0, x: x0, size: size, dy: mv.0, dx: mv.1, merge: c.merge, mergeIndex: c.mergeIndex,
                            skip: c.skip))
    }

    /// The 19-byte header + block substream (+ `residual` bytes).
    func payload(lanes: Int? = nil, residual: [UInt8] = []) -> [UInt8] {
        let n = symbols.count
        let l = lanes ?? min(256, max(1, n / 1024))
        let sub = ransEncodeSymbols(symbols, lanes: n == 0 ? 0 : min(l, n))
        var p: [UInt8] = [mode, UInt8(mvTable)]
        for f in freqs { p += le16(f) }
        p.append(UInt8(deblock))
        p += Golden.le32(UInt32(sub.count)) + sub + residual
        return p
    }

    /// The blocks as the decoder's `PredictionBlock`s.
    var predictionBlocks: [PredictionBlock] {
        blocks.map { PredictionBlock(y: $0.y, x: $0.x, size: $0.size, dy: $0.dy, dx: $0.dx, merge: $0.merge,
                                     mergeIndex: $0.mergeIndex, skip: $0.skip) }
    }
}

/// A random writer: random splits (more at small pictures), merges, differences within `diffRadius`
/// (at most the table's radius), skips.
func randomBlockTree(width w: Int, height h: Int, mode: UInt8, mvTable: Int, cdf: CdfTables, deblock: Int,
                     diffRadius: Int, splitChance: Int = 50, using rng: inout SplitMix64) -> BlockTreeWriter {
    let freqs = (0..<6).map { _ in [1, 65535, 32768, Int.random(in: 1...65535, using: &rng)][Int.random(in: 0..<4, using: &rng)] }
    var wr = BlockTreeWriter(width: w, height: h, mode: mode, mvTable: mvTable, cdf: cdf, freqs: freqs, deblock: deblock)
    var r = rng
    let dr = min(diffRadius, Int(cdf.radius[mvTable]))
    wr.write(split: { _, _, _, _ in Int.random(in: 0..<100, using: &r) < splitChance },
             block: { _, _, _, cands, _ in
                 BlockTreeWriter.PBChoice(merge: Bool.random(using: &r), mergeIndex: Int.random(in: 0..<cands.count, using: &r),
                                          diff: (Int.random(in: -dr...dr, using: &r), Int.random(in: -dr...dr, using: &r)),
                                          skip: Bool.random(using: &r))
             })
    rng = r
    return wr
}

/// Builds a `BlockTree` from blocks (syntax order), the unit map by direct search.
func makeBlockTree(width w: Int, height h: Int, blocks: [PredictionBlock], deblock: Int = 0) -> BlockTree {
    let uy = (h + 7) / 8, ux = (w + 7) / 8
    var units = [Int32](repeating: -1, count: uy * ux)
    for i in 0..<uy {
        for j in 0..<ux {
            let y = 8 * i, x = 8 * j
            units[i * ux + j] = Int32(blocks.firstIndex { y >= $0.y && y < $0.y + $0.size && x >= $0.x && x < $0.x + $0.size }!)
        }
    }
    return BlockTree(width: w, height: h,
                     parameters: BlockTreeParameters(splitFrequencies: [1, 1, 1], mergeFrequency: 1,
                                                     mergeIndexFrequency: 1, skipFrequency: 1, deblock: deblock),
                     blocks: blocks, unitsY: uy, unitsX: ux, unitBlock: units)
}

/// A random quadtree tiling of the picture (syntax order), without vectors.
func randomTiling(width w: Int, height h: Int, splitChance: Int, using rng: inout SplitMix64) -> [(Int, Int, Int)] {
    var out = [(Int, Int, Int)]()
    func node(_ y: Int, _ x: Int, _ s: Int) {
        if y >= h || x >= w { return }
        if s > 8 && Int.random(in: 0..<100, using: &rng) < splitChance {
            let q = s / 2
            node(y, x, q); node(y, x + q, q); node(y + q, x, q); node(y + q, x + q, q)
        } else {
            out.append((y, x, s))
        }
    }
    for cy in 0..<((h + 63) / 64) { for cx in 0..<((w + 63) / 64) { node(cy * 64, cx * 64, 64) } }
    return out
}

/// §4c prediction, literally: per pixel and channel, h[k] = sum_j c[fx][j] R(y+iy+k-3, x+ix+j-3),
/// pred = clamp((sum_k c[fy][k] h[k] + 2048) >> 12, 0, 255), R clamping both coordinates.
func naiveBlockTreePrediction(_ ref: [UInt8], width w: Int, height h: Int, blocks: [PredictionBlock]) -> [UInt8] {
    let c: [[Int]] = [[0, 0, 0, 64, 0, 0, 0, 0], [-1, 4, -10, 58, 17, -5, 1, 0],
                      [-1, 4, -11, 40, 40, -11, 4, -1], [0, 1, -5, 17, 58, -10, 4, -1]]
    func R(_ u: Int, _ v: Int, _ ch: Int) -> Int {
        Int(ref[(min(max(u, 0), h - 1) * w + min(max(v, 0), w - 1)) * 3 + ch])
    }
    var out = [UInt8](repeating: 0, count: w * h * 3)
    for b in blocks {
        let iy = b.dy >> 2, fy = b.dy & 3, ix = b.dx >> 2, fx = b.dx & 3
        for y in b.y..<min(b.y + b.size, h) {
            for x in b.x..<min(b.x + b.size, w) {
                for ch in 0..<3 {
                    var sum = 0
                    for k in 0..<8 {
                        var hk = 0
                        for j in 0..<8 { hk += c[fx][j] * R(y + iy + k - 3, x + ix + j - 3, ch) }
                        sum += c[fy][k] * hk
                    }
                    out[(y * w + x) * 3 + ch] = UInt8(min(max((sum + 2048) >> 12, 0), 255))
                }
            }
        }
    }
    return out
}

/// §4c deblocking, literally: pass 1 over vertical edges reading the picture before the pass,
/// pass 2 over horizontal edges reading pass 1's result; the PB of a unit by direct search.
func naiveDeblock(_ rec: [UInt8], width w: Int, height h: Int, blocks: [PredictionBlock], tc: Int) -> [UInt8] {
    if tc == 0 { return rec }
    let alpha = 4 * tc, beta = 2 * tc
    func pb(_ uy: Int, _ ux: Int) -> Int {
        blocks.firstIndex { 8 * uy >= $0.y && 8 * uy < $0.y + $0.size && 8 * ux >= $0.x && 8 * ux < $0.x + $0.size }!
    }
    func edge(_ u: Int, _ v: Int) -> Bool {
        if u == v { return false }
        let a = blocks[u], b = blocks[v]
        return abs(a.dy - b.dy) >= 4 || abs(a.dx - b.dx) >= 4 || a.skip != b.skip
    }
    func filter(_ src: [UInt8], _ out: inout [UInt8], _ i1: Int, _ i0: Int, _ j0: Int, _ j1: Int) {
        let p1 = Int(src[i1]), p0 = Int(src[i0]), q0 = Int(src[j0]), q1 = Int(src[j1])
        if abs(p0 - q0) < alpha && abs(p1 - p0) < beta && abs(q1 - q0) < beta {
            let d = min(max(((q0 - p0) * 4 + (p1 - q1) + 4) >> 3, -tc), tc)
            out[i0] = UInt8(min(max(p0 + d, 0), 255))
            out[j0] = UInt8(min(max(q0 - d, 0), 255))
        }
    }
    func at(_ y: Int, _ x: Int, _ ch: Int) -> Int { (y * w + x) * 3 + ch }
    let before1 = rec
    var pass1 = rec
    for x in stride(from: 8, to: w, by: 8) {
        for y in 0..<h where edge(pb(y / 8, x / 8 - 1), pb(y / 8, x / 8)) {
            for ch in 0..<3 {
                filter(before1, &pass1, at(y, x - 2, ch), at(y, x - 1, ch), at(y, x, ch), at(y, min(x + 1, w - 1), ch))
            }
        }
    }
    let before2 = pass1
    var pass2 = pass1
    for y in stride(from: 8, to: h, by: 8) {
        for x in 0..<w where edge(pb(y / 8 - 1, x / 8), pb(y / 8, x / 8)) {
            for ch in 0..<3 {
                filter(before2, &pass2, at(y - 2, x, ch), at(y - 1, x, ch), at(y, x, ch), at(min(y + 1, h - 1), x, ch))
            }
        }
    }
    return pass2
}
