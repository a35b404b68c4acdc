/// Inter (P) frame coding mode (docs/bitstream.md §4b, §4c). Modes 0-3 (§4b) are a bit field,
/// bit 0 = a residual follows the motion substream (else skip: prediction only), bit 1 = the
/// vectors are in half pixels (bilinear prediction, else whole pixels). Modes 4 and 5 (§4c,
/// bitstream 1.1) are the block tree, without and with a residual. Any other value is a corrupt
/// stream ("unknown inter mode N").
public enum InterMode: UInt8, Equatable {
    /// Whole-pixel prediction only; nothing may follow the motion substream.
    case skip = 0
    /// Whole-pixel prediction + a residual coded as an intra payload (§3).
    case residual = 1
    /// Half-pixel prediction only; nothing may follow the motion substream.
    case skipHalfPel = 2
    /// Half-pixel prediction + a residual coded as an intra payload (§3).
    case residualHalfPel = 3
    /// §4c block tree, prediction only (every block skipped); nothing may follow the block substream.
    case blockTree = 4
    /// §4c block tree + a residual coded as an intra payload (§3), added in blocks without skip.
    case blockTreeResidual = 5

    /// A residual (intra payload) follows the motion / block substream (modes 1, 3, 5).
    public var hasResidual: Bool { rawValue & 1 != 0 }
    /// Modes 2, 3: vectors in half pixels (§4b).
    public var halfPel: Bool { !isBlockTree && rawValue & 2 != 0 }
    /// Modes 4, 5: the §4c block tree (quarter-pixel vectors, 8-tap filter, deblocking).
    public var isBlockTree: Bool { rawValue >= 4 }
}

/// Everything a P-frame's motion path produced (docs/bitstream.md §4b, §4c), before any residual.
public struct ParsedInterFrame: Equatable {
    public let mode: InterMode
    /// CDF table index that coded every motion-vector symbol (§4c: every vector difference).
    public let mvTable: Int
    /// §4b: the 16 x 16 block grid, `BY = ceil(H/16)`, `BX = ceil(W/16)`. §4c: the 8 x 8 unit grid,
    /// `ceil(H/8)` x `ceil(W/8)`.
    public let blocksY: Int
    public let blocksX: Int
    /// Decoded motion field (vectors, not deltas), blocksY x blocksX x 2, per block (dy, dx),
    /// row-major; in whole pixels, in half pixels when `mode.halfPel`, in quarter pixels per 8 x 8
    /// unit (the vector of the prediction block covering it) for the block tree.
    public let motion: [Int32]
    /// Modes 4, 5: the decoded block tree (blocks, flags, frequencies, deblocking strength).
    public let blockTree: BlockTree?

    init(mode: InterMode, mvTable: Int, blocksY: Int, blocksX: Int, motion: [Int32], blockTree: BlockTree? = nil) {
        self.mode = mode
        self.mvTable = mvTable
        self.blocksY = blocksY
        self.blocksX = blocksX
        self.motion = motion
        self.blockTree = blockTree
    }
}

/// Motion vectors and block motion compensation (§4b). Integer arithmetic only.
public enum MotionCompensation {
    public static let block = 16

    /// `(ceil(H/16), ceil(W/16))`.
    public static func blockGrid(width: Int, height: Int) -> (by: Int, bx: Int) {
        ((height + block - 1) / block, (width + block - 1) / block)
    }

    /// Deltas -> vectors: `mv(i, j) = delta(i, j) + pred` with `pred = mv(i, j-1)` for j > 0,
    /// `mv(i-1, 0)` for j == 0 and i > 0, and (0, 0) for the first block. Both arrays BY x BX x 2.
    public static func vectors(fromDeltas d: [Int32], blocksY by: Int, blocksX bx: Int) -> [Int32] {
        precondition(d.count == by * bx * 2, "motion deltas: \(d.count) values for \(by) x \(bx) x 2")
        var mv = d
        for i in 0..<by {
            for j in 0..<bx {
                let o = (i * bx + j) * 2
                let p: Int            // offset of the predictor, -1: (0, 0)
                if j > 0 { p = o - 2 } else if i > 0 { p = o - bx * 2 } else { p = -1 }
                if p >= 0 {
                    // |values| <= 255 * (BY + BX) << 2^31: no overflow for any legal picture size.
                    mv[o] = d[o] &+ mv[p]
                    mv[o + 1] = d[o + 1] &+ mv[p + 1]
                }
            }
        }
        return mv
    }

    /// Prediction, per pixel (y, x) and channel, (dy, dx) the vector of the 16 x 16 block holding
    /// (y, x); `ref` is H x W x 3 RGB bytes.
    ///
    /// Whole pixels (`halfPel == false`): `pred[y, x] = ref[clamp(y + dy, 0, H-1), clamp(x + dx, 0, W-1)]`.
    ///
    /// Half pixels (`halfPel == true`): with `iy = dy >> 1`, `fy = dy & 1`, `ix = dx >> 1`,
    /// `fx = dx & 1` (floor / two's complement, also for negative vectors) and the clamped
    /// neighbours `A = ref[y+iy, x+ix]`, `B = ref[y+iy, x+ix+1]`, `C = ref[y+iy+1, x+ix]`,
    /// `D = ref[y+iy+1, x+ix+1]`:
    /// `pred = (A(2-fy)(2-fx) + B(2-fy)fx + C fy(2-fx) + D fy fx + 2) >> 2`. Even vectors give the
    /// whole-pixel copy of (dy/2, dx/2).
    ///
    /// Any Int32 vector is safe (no arithmetic can overflow): each block's vector is widened to
    /// Int and clamped to just beyond the picture, which leaves every clamped coordinate, so the
    /// prediction, unchanged.
    public static func compensate(reference ref: [UInt8], width w: Int, height h: Int,
                                  motion mv: [Int32], blocksX bx: Int, halfPel: Bool = false) -> [UInt8] {
        precondition(ref.count == w * h * 3, "reference picture has \(ref.count) bytes for \(w) x \(h) x 3")
        let by = (h + block - 1) / block
        precondition(mv.count >= by * bx * 2 && bx * block >= w,
                     "motion field: \(mv.count) values for \(by) x \(bx) x 2 blocks of a \(w) x \(h) picture")
        var pred = [UInt8](repeating: 0, count: w * h * 3)
        if w == 0 || h == 0 { return pred }
        // Beyond +-(size + 2) pixels (+-2 (size + 2) half pixels) every coordinate clamps to the
        // same edge, so vectors are clamped to that range first: y + dy stays far from Int's limits.
        let limY = h + 2, limX = w + 2
        ref.withUnsafeBufferPointer { src in
            pred.withUnsafeMutableBufferPointer { dst in
                // vectors in the field's unit (1: whole pixels, 2: half pixels)
                let unit = halfPel ? 2 : 1
                for y in 0..<h {
                    let rowBlock = (y / block) * bx
                    let t0 = y * w * 3
                    for j in 0..<bx {
                        let x0 = j * block
                        if x0 >= w { break }
                        let x1 = min(x0 + block, w)
                        let o = (rowBlock + j) * 2
                        let dy = min(max(Int(mv[o]), -unit * limY), unit * limY)
                        let dx = min(max(Int(mv[o + 1]), -unit * limX), unit * limX)
                        if !halfPel {
                            let srow = min(max(y + dy, 0), h - 1) * w * 3
                            for x in x0..<x1 {
                                let s = srow + min(max(x + dx, 0), w - 1) * 3, t = t0 + x * 3
                                dst[t] = src[s]
                                dst[t + 1] = src[s + 1]
                                dst[t + 2] = src[s + 2]
                            }
                            continue
                        }
                        let iy = dy >> 1, fy = dy & 1, ix = dx >> 1, fx = dx & 1
                        let ra = min(max(y + iy, 0), h - 1) * w * 3
                        let rc = min(max(y + iy + 1, 0), h - 1) * w * 3
                        let wa = (2 - fy) * (2 - fx), wb = (2 - fy) * fx
                        let wc = fy * (2 - fx), wd = fy * fx
                        for x in x0..<x1 {
                            let ca = min(max(x + ix, 0), w - 1) * 3
                            let cb = min(max(x + ix + 1, 0), w - 1) * 3
                            let t = t0 + x * 3
                            for c in 0..<3 {
                                let v = Int(src[ra + ca + c]) * wa + Int(src[ra + cb + c]) * wb
                                    + Int(src[rc + ca + c]) * wc + Int(src[rc + cb + c]) * wd + 2
                                dst[t + c] = UInt8(truncatingIfNeeded: v >> 2)   // <= (4 * 255 + 2) >> 2 = 255
                            }
                        }
                    }
                }
            }
        }
        return pred
    }

    /// `clamp(pred + r, 0, 255)` element-wise.
    public static func addResidual(_ pred: [UInt8], _ r: [Int8]) -> [UInt8] {
        precondition(pred.count == r.count)
        var out = [UInt8](repeating: 0, count: pred.count)
        for i in 0..<pred.count {
            out[i] = UInt8(min(max(Int(pred[i]) + Int(r[i]), 0), 255))
        }
        return out
    }
}

/// Parses P-frame payloads: §4b (mode, motion table, motion substream) and §4c (the block-tree
/// header and block substream). The residual (modes 1, 3 and 5, `InterMode.hasResidual`) is the
/// remaining bytes, decoded by `IntraCodec` as an intra payload (with the package's residual
/// networks when it has them, `NetworkSet.residual`).
final class InterCodec {
    static let headerSize = 6      // u8 mode, u8 mv_table, u32 M
    /// §4c: u8 mode, u8 mv_table, u16 f_split[3], u16 f_merge, u16 f_midx, u16 f_skip, u8 deblock, u32 S.
    static let blockTreeHeaderSize = 19
    let tables: CdfTables

    init(tables: CdfTables) {
        self.tables = tables
    }

    /// Returns the motion field and the residual payload (empty for a skip frame, mode 0, 2 or 4).
    /// Checks, in the Python reference's order: header present, mode (0...5), table, (§4c: the
    /// frequencies, the deblocking strength,) motion / block substream length, the substream,
    /// no bytes after a frame without residual.
    func parse(payload: ArraySlice<UInt8>, width: Int, height: Int) throws -> (ParsedInterFrame, ArraySlice<UInt8>) {
        guard let first = payload.first else { throw MLVCError.corruptStream("inter payload truncated") }
        guard let mode = InterMode(rawValue: first) else {
            throw MLVCError.corruptStream("unknown inter mode \(first)")
        }
        if mode.isBlockTree { return try parseBlockTree(payload: payload, mode: mode, width: width, height: height) }
        guard payload.count >= InterCodec.headerSize else {
            throw MLVCError.corruptStream("inter payload truncated")
        }
        let s = payload.startIndex
        let t = Int(payload[s + 1])
        guard t < tables.numTables else {
            throw MLVCError.corruptStream("motion table \(t) does not exist (\(tables.numTables) tables)")
        }
        let mvlen = Int(readU32(payload, 2))
        guard mvlen <= payload.count - InterCodec.headerSize else {
            throw MLVCError.corruptStream("inter payload: motion substream longer than the payload")
        }
        let (by, bx) = MotionCompensation.blockGrid(width: width, height: height)
        let n = by * bx * 2
        let m0 = s + InterCodec.headerSize
        let k = try Rans.decode(payload[m0..<(m0 + mvlen)], tables: [Int32](repeating: Int32(t), count: n),
                                cdf: tables)
        let r = tables.radius[t]
        let deltas = k.map { $0 - r }
        let mv = MotionCompensation.vectors(fromDeltas: deltas, blocksY: by, blocksX: bx)
        let rest = payload[(m0 + mvlen)...]
        if !mode.hasResidual && !rest.isEmpty {
            throw MLVCError.corruptStream("skip frame carries \(rest.count) residual bytes")
        }
        return (ParsedInterFrame(mode: mode, mvTable: t, blocksY: by, blocksX: bx, motion: mv), rest)
    }

    /// §4c, in the Python reference's order: the block-tree header (19 bytes; table < T, every
    /// frequency 1...65535, deblock <= 31, S within the payload), no bytes after a mode-4 block
    /// substream, then the block syntax read from the block substream and its end checks.
    private func parseBlockTree(payload: ArraySlice<UInt8>, mode: InterMode, width: Int,
                                height: Int) throws -> (ParsedInterFrame, ArraySlice<UInt8>) {
        var c = ByteCursor(payload, what: "block-tree inter payload")
        guard payload.count >= InterCodec.blockTreeHeaderSize else {
            throw MLVCError.corruptStream("block-tree inter payload truncated (\(payload.count) bytes, header "
                                          + "\(InterCodec.blockTreeHeaderSize))")
        }
        _ = try c.u8()
        let t = Int(try c.u8())
        guard t < tables.numTables else {
            throw MLVCError.corruptStream("motion table \(t) does not exist (\(tables.numTables) tables)")
        }
        let split = [Int(try c.u16()), Int(try c.u16()), Int(try c.u16())]
        let fMerge = Int(try c.u16()), fIdx = Int(try c.u16()), fSkip = Int(try c.u16())
        for (name, f) in [("split[0]", split[0]), ("split[1]", split[1]), ("split[2]", split[2]),
                          ("merge", fMerge), ("merge index", fIdx), ("skip", fSkip)] where f == 0 {
            throw MLVCError.corruptStream("block tree: frequency of \(name) is 0")
        }
        let deblock = Int(try c.u8())
        guard deblock <= BlockTree.maxDeblock else {
            throw MLVCError.corruptStream("block tree: deblocking strength \(deblock) above \(BlockTree.maxDeblock)")
        }
        let slen = Int(try c.u32())
        guard slen <= c.remaining else {
            throw MLVCError.corruptStream("block-tree inter payload: block substream (\(slen) bytes) longer than the payload")
        }
        let sub = try c.take(slen)
        let rest = c.rest()
        if !mode.hasResidual && !rest.isEmpty {
            throw MLVCError.corruptStream("block-tree skip frame (mode 4) carries \(rest.count) residual bytes")
        }
        let params = BlockTreeParameters(splitFrequencies: split, mergeFrequency: fMerge, mergeIndexFrequency: fIdx,
                                         skipFrequency: fSkip, deblock: deblock)
        var parser = BlockTreeParser(width: width, height: height, residual: mode.hasResidual, mvTable: t,
                                     params: params, reader: try RansReader(sub, cdf: tables))
        let tree = try parser.parse()
        return (ParsedInterFrame(mode: mode, mvTable: t, blocksY: tree.unitsY, blocksX: tree.unitsX,
                                 motion: tree.unitVectors, blockTree: tree), rest)
    }
}
