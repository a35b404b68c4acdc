// The block-tree inter payload (docs/bitstream.md §4c; modes 4 and 5, bitstream 1.1): a quadtree
// of prediction blocks from 64x64 down to 8x8 per 64x64 CTU, quarter-pixel vectors with an 8-tap
// interpolation filter, merge and median vector prediction from neighbours, per-block skip of the
// residual, and an in-loop deblocking filter. Integer arithmetic only; every stream-controlled
// value is range-checked before it is used, so no input can trap.

/// The §4c header fields after the mode and vector table: the binary symbols' frequencies (each
/// names the table `cdf = [0, f, 65536]`; 1...65535) and the deblocking strength.
public struct BlockTreeParameters: Equatable {
    /// Frequency of split = 0 at depth 0, 1, 2 (node sizes 64, 32, 16).
    public let splitFrequencies: [Int]
    /// Frequency of merge = 0.
    public let mergeFrequency: Int
    /// Frequency of merge index = 0.
    public let mergeIndexFrequency: Int
    /// Frequency of skip = 0 (read by mode 5 only; checked in both).
    public let skipFrequency: Int
    /// Deblocking strength tc (0 = off, 1...31).
    public let deblock: Int
}

/// One prediction block (PB) of a block tree: top-left pixel, size (8, 16, 32 or 64; it may
/// extend past the picture's right or bottom edge), vector in quarter pixels, and its flags.
public struct PredictionBlock: Equatable {
    public let y: Int
    public let x: Int
    public let size: Int
    /// Vector (dy, dx) in quarter pixels, each in -2048...2047.
    public let dy: Int
    public let dx: Int
    /// Whether the vector was taken from a merge candidate (else: median predictor + difference).
    public let merge: Bool
    /// The merge candidate taken (0 or 1; 0 when not merged or when there was one candidate).
    public let mergeIndex: Int
    /// Whether the block's residual is skipped (always true in mode 4).
    public let skip: Bool

    public init(y: Int, x: Int, size: Int, dy: Int, dx: Int, merge: Bool, mergeIndex: Int = 0, skip: Bool) {
        self.y = y
        self.x = x
        self.size = size
        self.dy = dy
        self.dx = dx
        self.merge = merge
        self.mergeIndex = mergeIndex
        self.skip = skip
    }
}

/// A decoded block tree: the prediction blocks in syntax order (CTUs in raster order, each
/// quadtree depth first) and, per 8x8 unit of the picture (`unitsY = ceil(H/8)` rows of
/// `unitsX = ceil(W/8)`), the index of the block that covers it.
public struct BlockTree: Equatable {
    public static let ctu = 64
    public static let minBlock = 8
    public static let vectorRange = -2048...2047
    /// Largest deblocking strength.
    public static let maxDeblock = 31

    public let width: Int
    public let height: Int
    public let parameters: BlockTreeParameters
    public let blocks: [PredictionBlock]
    public let unitsY: Int
    public let unitsX: Int
    /// `unitsY x unitsX`, row-major: index into `blocks`.
    public let unitBlock: [Int32]

    /// The block covering pixel (y, x) of the picture.
    public func block(atY y: Int, x: Int) -> PredictionBlock {
        blocks[Int(unitBlock[(y >> 3) * unitsX + (x >> 3)])]
    }

    /// The vector field per 8x8 unit, `unitsY x unitsX x 2` (dy, dx), quarter pixels.
    public var unitVectors: [Int32] {
        var out = [Int32](repeating: 0, count: unitBlock.count * 2)
        for (u, b) in unitBlock.enumerated() {
            out[2 * u] = Int32(blocks[Int(b)].dy)
            out[2 * u + 1] = Int32(blocks[Int(b)].dx)
        }
        return out
    }
}

/// Reads the §4c block syntax from the block substream (one symbol at a time, `RansReader`).
struct BlockTreeParser {
    let width: Int
    let height: Int
    let residual: Bool            // mode 5: a skip flag per block
    let mvTable: Int
    let params: BlockTreeParameters
    let unitsY: Int
    let unitsX: Int
    var reader: RansReader
    var blocks = [PredictionBlock]()
    var unitBlock: [Int32]

    init(width: Int, height: Int, residual: Bool, mvTable: Int, params: BlockTreeParameters, reader: RansReader) {
        self.width = width
        self.height = height
        self.residual = residual
        self.mvTable = mvTable
        self.params = params
        self.reader = reader
        unitsY = (height + 7) / 8
        unitsX = (width + 7) / 8
        unitBlock = [Int32](repeating: -1, count: unitsY * unitsX)
    }

    /// The PB containing pixel (y, x), nil when the pixel is outside the picture.
    private func neighbour(_ y: Int, _ x: Int) -> PredictionBlock? {
        guard y >= 0, x >= 0, y < height, x < width else { return nil }
        let b = unitBlock[(y >> 3) * unitsX + (x >> 3)]
        precondition(b >= 0, "block tree: neighbour (\(y), \(x)) not yet decoded")
        return blocks[Int(b)]
    }

    private static func median(_ a: Int, _ b: Int, _ c: Int) -> Int { max(min(a, b), min(max(a, b), c)) }

    mutating func parse() throws -> BlockTree {
        let cby = (height + BlockTree.ctu - 1) / BlockTree.ctu
        let cbx = (width + BlockTree.ctu - 1) / BlockTree.ctu
        for cy in 0..<cby {
            for cx in 0..<cbx {
                try node(cy * BlockTree.ctu, cx * BlockTree.ctu, BlockTree.ctu, 0)
            }
        }
        try reader.finish()
        return BlockTree(width: width, height: height, parameters: params, blocks: blocks, unitsY: unitsY,
                         unitsX: unitsX, unitBlock: unitBlock)
    }

    private mutating func node(_ y0: Int, _ x0: Int, _ size: Int, _ depth: Int) throws {
        if y0 >= height || x0 >= width { return }
        var split = 0
        if size > BlockTree.minBlock { split = try reader.binary(frequency: params.splitFrequencies[depth]) }
        if split != 0 {
            let h = size / 2
            try node(y0, x0, h, depth + 1)
            try node(y0, x0 + h, h, depth + 1)
            try node(y0 + h, x0, h, depth + 1)
            try node(y0 + h, x0 + h, h, depth + 1)
        } else {
            try predictionBlock(y0, x0, size)
        }
    }

    private mutating func predictionBlock(_ y0: Int, _ x0: Int, _ size: Int) throws {
        let a = neighbour(y0, x0 - 1)
        let b = neighbour(y0 - 1, x0 + size - 1)
        let d = neighbour(y0 - 1, x0 - 1)
        // Merge candidates: A, then B if it differs, then (0, 0) if not already there; first two.
        var cands = [(Int, Int)]()
        cands.reserveCapacity(3)
        if let a { cands.append((a.dy, a.dx)) }
        if let b, !cands.contains(where: { $0 == (b.dy, b.dx) }) { cands.append((b.dy, b.dx)) }
        if !cands.contains(where: { $0 == (0, 0) }) { cands.append((0, 0)) }
        if cands.count > 2 { cands.removeLast(cands.count - 2) }
        let merge = try reader.binary(frequency: params.mergeFrequency) != 0
        var dy: Int, dx: Int
        var idx = 0
        if merge {
            idx = cands.count == 2 ? try reader.binary(frequency: params.mergeIndexFrequency) : 0
            (dy, dx) = cands[idx]
        } else {
            let pa = a.map { ($0.dy, $0.dx) } ?? (0, 0)
            let pb = b.map { ($0.dy, $0.dx) } ?? (0, 0)
            let pd = d.map { ($0.dy, $0.dx) } ?? (0, 0)
            dy = BlockTreeParser.median(pa.0, pb.0, pd.0)
            dx = BlockTreeParser.median(pa.1, pb.1, pd.1)
            dy += try reader.value(table: mvTable)
            dx += try reader.value(table: mvTable)
        }
        let skip = residual ? try reader.binary(frequency: params.skipFrequency) != 0 : true
        guard BlockTree.vectorRange.contains(dy), BlockTree.vectorRange.contains(dx) else {
            throw MLVCError.corruptStream("block tree: vector (\(dy), \(dx)) of the \(size)x\(size) block at "
                                          + "(\(y0), \(x0)) outside -2048..2047")
        }
        let index = Int32(blocks.count)
        blocks.append(PredictionBlock(y: y0, x: x0, size: size, dy: dy, dx: dx, merge: merge, mergeIndex: idx,
                                      skip: skip))
        let uy1 = (min(y0 + size, height) + 7) / 8, ux1 = (min(x0 + size, width) + 7) / 8
        for uy in (y0 / 8)..<uy1 {
            for ux in (x0 / 8)..<ux1 { unitBlock[uy * unitsX + ux] = index }
        }
    }
}

/// §4c prediction: quarter-pixel vectors, HEVC's 8-tap luma filters, clamped reference coordinates.
public enum BlockPrediction {
    /// The four filters by phase (quarter pixels 0...3); each sums to 64.
    public static let filters: [[Int]] = [
        [0, 0, 0, 64, 0, 0, 0, 0],
        [-1, 4, -10, 58, 17, -5, 1, 0],
        [-1, 4, -11, 40, 40, -11, 4, -1],
        [0, 1, -5, 17, 58, -10, 4, -1],
    ]

    /// The prediction of every pixel of the picture from `ref` (H x W x 3 RGB bytes), each pixel
    /// with the vector of the block covering it.
    public static func predict(reference ref: [UInt8], tree: BlockTree) -> [UInt8] {
        let w = tree.width, h = tree.height
        precondition(ref.count == w * h * 3, "reference picture has \(ref.count) bytes for \(w) x \(h) x 3")
        var pred = [UInt8](repeating: 0, count: w * h * 3)
        var scratch = Scratch()
        ref.withUnsafeBufferPointer { src in
            pred.withUnsafeMutableBufferPointer { dst in
                for b in tree.blocks {
                    let y1 = min(b.y + b.size, h), x1 = min(b.x + b.size, w)
                    predictBlock(src, width: w, height: h, dy: b.dy, dx: b.dx, y0: b.y, x0: b.x,
                                 rows: y1 - b.y, cols: x1 - b.x, into: dst, scratch: &scratch)
                }
            }
        }
        return pred
    }

    /// Reused buffers of one prediction (at most a 64x64 block): clamped source rows and columns,
    /// and the horizontal pass.
    struct Scratch {
        var rowIndex = [Int](repeating: 0, count: 64 + 7)
        var colIndex = [Int](repeating: 0, count: 64 + 7)
        var tmp = [Int32](repeating: 0, count: (64 + 7) * 64 * 3)
    }

    /// Predicts the `rows x cols` pixels at (y0, x0) (inside the picture, at most 64 x 64) with the
    /// vector (dy, dx) into `dst` (H x W x 3).
    static func predictBlock(_ src: UnsafeBufferPointer<UInt8>, width w: Int, height h: Int, dy: Int, dx: Int,
                             y0: Int, x0: Int, rows: Int, cols: Int, into dst: UnsafeMutableBufferPointer<UInt8>,
                             scratch: inout Scratch) {
        // Vectors are checked (-2048...2047), but any Int works: coordinates are clamped, and far
        // vectors are first limited to just beyond the picture (same clamped coordinates).
        let iy = min(max(dy >> 2, -(h + 80)), h + 80), fy = dy & 3
        let ix = min(max(dx >> 2, -(w + 80)), w + 80), fx = dx & 3
        let stride = w * 3
        if fy == 0 && fx == 0 {
            for r in 0..<rows {
                let sr = min(max(y0 + r + iy, 0), h - 1) * stride
                let t = (y0 + r) * stride
                for c in 0..<cols {
                    let s = sr + min(max(x0 + c + ix, 0), w - 1) * 3, o = t + (x0 + c) * 3
                    dst[o] = src[s]; dst[o + 1] = src[s + 1]; dst[o + 2] = src[s + 2]
                }
            }
            return
        }
        let cx = filters[fx], cy = filters[fy]
        let n3 = cols * 3
        // Rows the vertical pass needs: all 8 taps, or only the centre one when fy == 0.
        let rLo = fy == 0 ? 3 : 0, rHi = fy == 0 ? rows + 3 : rows + 7
        scratch.rowIndex.withUnsafeMutableBufferPointer { ri in
        scratch.colIndex.withUnsafeMutableBufferPointer { ci in
        scratch.tmp.withUnsafeMutableBufferPointer { tmp in
            for r in rLo..<rHi { ri[r] = min(max(y0 + iy + r - 3, 0), h - 1) * stride }
            for c in 0..<(cols + 7) { ci[c] = min(max(x0 + ix + c - 3, 0), w - 1) * 3 }
            // Horizontal pass: tmp[r][c][ch] = sum_j cx[j] * R(y0 + iy + r - 3, x0 + ix + c + j - 3).
            let c0 = cx[0], c1 = cx[1], c2 = cx[2], c3 = cx[3], c4 = cx[4], c5 = cx[5], c6 = cx[6], c7 = cx[7]
            // Columns that need no clamping (the usual case): taps at consecutive samples.
            let left = x0 + ix - 3
            let inside = left >= 0 && left + cols + 7 <= w
            for r in rLo..<rHi {
                let sr = ri[r], tr = r * n3
                if inside && fx != 0 {
                    let b = sr + left * 3
                    for i in 0..<n3 {
                        let s = b + i
                        var v = c0 * Int(src[s]) + c1 * Int(src[s + 3])
                        v += c2 * Int(src[s + 6]) + c3 * Int(src[s + 9])
                        v += c4 * Int(src[s + 12]) + c5 * Int(src[s + 15])
                        v += c6 * Int(src[s + 18]) + c7 * Int(src[s + 21])
                        tmp[tr + i] = Int32(v)
                    }
                    continue
                }
                if fx == 0 {
                    for c in 0..<cols {
                        let s = sr + ci[c + 3], t = tr + c * 3
                        tmp[t] = Int32(src[s]) << 6
                        tmp[t + 1] = Int32(src[s + 1]) << 6
                        tmp[t + 2] = Int32(src[s + 2]) << 6
                    }
                    continue
                }
                for c in 0..<cols {
                    let t = tr + c * 3
                    let s0 = sr + ci[c], s1 = sr + ci[c + 1], s2 = sr + ci[c + 2], s3 = sr + ci[c + 3]
                    let s4 = sr + ci[c + 4], s5 = sr + ci[c + 5], s6 = sr + ci[c + 6], s7 = sr + ci[c + 7]
                    for ch in 0..<3 {
                        var v = c0 * Int(src[s0 + ch]) + c1 * Int(src[s1 + ch])
                        v += c2 * Int(src[s2 + ch]) + c3 * Int(src[s3 + ch])
                        v += c4 * Int(src[s4 + ch]) + c5 * Int(src[s5 + ch])
                        v += c6 * Int(src[s6 + ch]) + c7 * Int(src[s7 + ch])
                        tmp[t + ch] = Int32(v)            // |v| <= 96 * 255 < 2^15
                    }
                }
            }
            // Vertical pass: clamp((sum_k cy[k] * tmp[r + k] + 2048) >> 12, 0, 255).
            let k0 = cy[0], k1 = cy[1], k2 = cy[2], k3 = cy[3], k4 = cy[4], k5 = cy[5], k6 = cy[6], k7 = cy[7]
            for r in 0..<rows {
                let o = (y0 + r) * stride + x0 * 3
                let b = r * n3
                if fy == 0 {
                    let b3 = b + 3 * n3
                    for i in 0..<n3 {
                        let v = (64 * Int(tmp[b3 + i]) + 2048) >> 12
                        dst[o + i] = UInt8(min(max(v, 0), 255))
                    }
                    continue
                }
                for i in 0..<n3 {
                    var v = k0 * Int(tmp[b + i]) + k1 * Int(tmp[b + n3 + i])
                    v += k2 * Int(tmp[b + 2 * n3 + i]) + k3 * Int(tmp[b + 3 * n3 + i])
                    v += k4 * Int(tmp[b + 4 * n3 + i]) + k5 * Int(tmp[b + 5 * n3 + i])
                    v += k6 * Int(tmp[b + 6 * n3 + i]) + k7 * Int(tmp[b + 7 * n3 + i])
                    dst[o + i] = UInt8(min(max((v + 2048) >> 12, 0), 255))
                }
            }
        }
        }
        }
    }

    /// Mode 5: `rec = pred` in blocks with skip = 1, `clamp(pred + r, 0, 255)` in the others
    /// (`pred` is modified in place; `r` is the H x W x 3 residual).
    public static func addResidual(_ pred: inout [UInt8], _ r: [Int8], tree: BlockTree) {
        let w = tree.width, h = tree.height
        precondition(pred.count == w * h * 3 && r.count == pred.count)
        pred.withUnsafeMutableBufferPointer { p in
            r.withUnsafeBufferPointer { res in
                for b in tree.blocks where !b.skip {
                    let y1 = min(b.y + b.size, h), x1 = min(b.x + b.size, w)
                    for y in b.y..<y1 {
                        let lo = (y * w + b.x) * 3, hi = (y * w + x1) * 3
                        for i in lo..<hi { p[i] = UInt8(min(max(Int(p[i]) + Int(res[i]), 0), 255)) }
                    }
                }
            }
        }
    }
}

/// §4c in-loop deblocking: two passes (vertical edges, then horizontal edges on the result), per
/// channel, on the 8x8 grid, across block edges whose vectors differ by a pixel or more or whose
/// skip flags differ.
public enum Deblocking {
    /// Whether the edge between the blocks of two 8x8 units is filtered: different blocks, and
    /// vectors that differ by 4 or more quarter pixels in either component, or different skip flags.
    static func filtered(_ tree: BlockTree, _ u: Int32, _ v: Int32) -> Bool {
        if u == v { return false }
        let a = tree.blocks[Int(u)], b = tree.blocks[Int(v)]
        return abs(a.dy - b.dy) >= 4 || abs(a.dx - b.dx) >= 4 || a.skip != b.skip
    }

    /// Filters `rec` (H x W x 3) in place with strength `tc` (0: nothing).
    public static func apply(_ rec: inout [UInt8], tree: BlockTree, tc: Int) {
        let w = tree.width, h = tree.height
        precondition(rec.count == w * h * 3)
        guard tc > 0 else { return }
        let alpha = 4 * tc, beta = 2 * tc
        let ux = tree.unitsX, uy = tree.unitsY
        rec.withUnsafeMutableBufferPointer { p in
            // One sample line: p1, p0 | q0, q1 at offsets a1, a0, b0, b1.
            @inline(__always) func line(_ a1: Int, _ a0: Int, _ b0: Int, _ b1: Int) {
                let p1 = Int(p[a1]), p0 = Int(p[a0]), q0 = Int(p[b0]), q1 = Int(p[b1])
                guard abs(p0 - q0) < alpha, abs(p1 - p0) < beta, abs(q1 - q0) < beta else { return }
                let d = min(max(((q0 - p0) * 4 + (p1 - q1) + 4) >> 3, -tc), tc)
                p[a0] = UInt8(min(max(p0 + d, 0), 255))
                p[b0] = UInt8(min(max(q0 - d, 0), 255))
            }
            // 1. Vertical edges at x = 8, 16, ... < W.
            for j in stride(from: 1, to: ux, by: 1) {
                let x = 8 * j
                let xq1 = min(x + 1, w - 1)
                for i in 0..<uy where filtered(tree, tree.unitBlock[i * ux + j - 1], tree.unitBlock[i * ux + j]) {
                    for y in (8 * i)..<min(8 * i + 8, h) {
                        let row = y * w
                        for ch in 0..<3 {
                            line((row + x - 2) * 3 + ch, (row + x - 1) * 3 + ch, (row + x) * 3 + ch, (row + xq1) * 3 + ch)
                        }
                    }
                }
            }
            // 2. Horizontal edges at y = 8, 16, ... < H.
            for i in stride(from: 1, to: uy, by: 1) {
                let y = 8 * i
                let rq1 = min(y + 1, h - 1) * w
                for j in 0..<ux where filtered(tree, tree.unitBlock[(i - 1) * ux + j], tree.unitBlock[i * ux + j]) {
                    for x in (8 * j)..<min(8 * j + 8, w) {
                        for ch in 0..<3 {
                            line(((y - 2) * w + x) * 3 + ch, ((y - 1) * w + x) * 3 + ch, (y * w + x) * 3 + ch,
                                 (rq1 + x) * 3 + ch)
                        }
                    }
                }
            }
        }
    }
}
