/// Interleaved rANS decoder (docs/bitstream.md §5): 16-bit precision, 32-bit states kept in UInt64
/// so that corrupt input cannot overflow, 16-bit renormalisation words, every end check.
public enum Rans {
    public static let stateLow: UInt64 = 1 << 16
    public static let maxLanes = 1024

    /// Decodes `tables.count` table-local symbol indices (0...2*radius) from one complete substream.
    public static func decode(_ data: ArraySlice<UInt8>, tables t: [Int32], cdf: CdfTables) throws -> [Int32] {
        let n = t.count
        guard data.count >= 6 else { throw MLVCError.corruptStream("rANS substream header truncated") }
        let lanes = Int(readU16(data, 0))
        let nwords = Int(readU32(data, 2))
        let size = 6 + 4 * lanes + 2 * nwords
        guard size <= data.count else { throw MLVCError.corruptStream("rANS substream truncated") }
        guard size == data.count else { throw MLVCError.corruptStream("rANS substream has trailing bytes") }
        if n == 0 {
            guard lanes == 0, nwords == 0 else {
                throw MLVCError.corruptStream("rANS substream not empty for zero symbols")
            }
            return []
        }
        guard lanes >= 1, lanes <= min(n, maxLanes) else {
            throw MLVCError.corruptStream("rANS lane count \(lanes) invalid for \(n) symbols")
        }
        guard nwords <= n else {
            throw MLVCError.corruptStream("rANS substream declares more words than symbols")
        }
        var x = [UInt64](repeating: 0, count: lanes)
        for l in 0..<lanes {
            x[l] = UInt64(readU32(data, 6 + 4 * l))
            guard x[l] >= stateLow else { throw MLVCError.corruptStream("rANS initial state out of range") }
        }
        let wordBase = 6 + 4 * lanes
        let numTables = cdf.numTables
        var out = [Int32](repeating: 0, count: n)
        var p = 0
        try cdf.cdf.withUnsafeBufferPointer { c in
            for i in 0..<n {
                let lane = i % lanes
                let table = Int(t[i])
                guard table >= 0, table < numTables else {
                    throw MLVCError.corruptStream("rANS: table index \(table) out of range")
                }
                var s = x[lane]
                let slot = s & 0xFFFF
                let base = cdf.start[table]
                // Largest k with c[k] <= slot (c[0] = 0 <= slot < 65536 = c[last]).
                var lo = 0, hi = 2 * Int(cdf.radius[table]) + 1
                while hi - lo > 1 {
                    let mid = (lo + hi) >> 1
                    if UInt64(c[base + mid]) <= slot { lo = mid } else { hi = mid }
                }
                let cLo = UInt64(c[base + lo])
                let f = UInt64(c[base + lo + 1]) - cLo
                s = f * (s >> 16) + slot - cLo
                if s < stateLow {
                    guard p < nwords else { throw MLVCError.corruptStream("rANS substream ran out of words") }
                    s = (s << 16) | UInt64(readU16(data, wordBase + 2 * p))
                    p += 1
                }
                x[lane] = s
                out[i] = Int32(lo)
            }
        }
        guard p == nwords, x.allSatisfy({ $0 == stateLow }) else {
            throw MLVCError.corruptStream("rANS substream did not end in the initial state")
        }
        return out
    }
}
