/// Inter (P) frame coding mode (docs/bitstream.md §4b).
public enum InterMode: UInt8, Equatable {
    /// Prediction only; nothing may follow the motion substream.
    case skip = 0
    /// Prediction + a residual coded as an intra payload (§3).
    case residual = 1
}

/// Everything a P-frame's motion path produced (docs/bitstream.md §4b), before any residual.
public struct ParsedInterFrame: Equatable {
    public let mode: InterMode
    /// CDF table index that coded every motion-vector symbol.
    public let mvTable: Int
    /// Block grid: `BY = ceil(H/16)`, `BX = ceil(W/16)`.
    public let blocksY: Int
    public let blocksX: Int
    /// Decoded motion field (vectors, not deltas), BY x BX x 2, per block (dy, dx), row-major.
    public let motion: [Int32]
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

    /// Prediction: `pred[y, x] = ref[clamp(y + dy, 0, H-1), clamp(x + dx, 0, W-1)]` per channel,
    /// (dy, dx) the vector of the 16 x 16 block holding (y, x). `ref` is H x W x 3 RGB bytes.
    public static func compensate(reference ref: [UInt8], width w: Int, height h: Int,
                                  motion mv: [Int32], blocksX bx: Int) -> [UInt8] {
        precondition(ref.count == w * h * 3, "reference picture has \(ref.count) bytes for \(w) x \(h) x 3")
        var pred = [UInt8](repeating: 0, count: w * h * 3)
        ref.withUnsafeBufferPointer { src in
            pred.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    let rowBlock = (y / block) * bx
                    for x in 0..<w {
                        let o = (rowBlock + x / block) * 2
                        let sy = min(max(y + Int(mv[o]), 0), h - 1)
                        let sx = min(max(x + Int(mv[o + 1]), 0), w - 1)
                        let s = (sy * w + sx) * 3, t = (y * w + x) * 3
                        dst[t] = src[s]
                        dst[t + 1] = src[s + 1]
                        dst[t + 2] = src[s + 2]
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

/// Parses P-frame payloads (§4b): mode, motion table, motion substream. The residual (mode 1) is
/// the remaining bytes, decoded by `IntraCodec` as an intra payload.
final class InterCodec {
    static let headerSize = 6      // u8 mode, u8 mv_table, u32 M
    let tables: CdfTables

    init(tables: CdfTables) {
        self.tables = tables
    }

    /// Returns the motion field and the residual payload (empty for a skip frame). Checks, in the
    /// Python reference's order: header present, mode, table, motion length, motion substream,
    /// no bytes after a skip frame.
    func parse(payload: ArraySlice<UInt8>, width: Int, height: Int) throws -> (ParsedInterFrame, ArraySlice<UInt8>) {
        guard payload.count >= InterCodec.headerSize else {
            throw MLVCError.corruptStream("inter payload truncated")
        }
        let s = payload.startIndex
        guard let mode = InterMode(rawValue: payload[s]) else {
            throw MLVCError.corruptStream("unknown inter mode \(payload[s])")
        }
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
        if mode == .skip && !rest.isEmpty {
            throw MLVCError.corruptStream("skip frame carries \(rest.count) residual bytes")
        }
        return (ParsedInterFrame(mode: mode, mvTable: t, blocksY: by, blocksX: bx, motion: mv), rest)
    }
}
