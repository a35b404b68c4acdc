/// Incremental form of `Rans.decode` (docs/bitstream.md §5) for syntax whose symbol count and
/// tables depend on symbols already read (the quadtree inter payload): one symbol at a time, each
/// with its own table, every read bounds-checked, and the end checks in `finish()`. Any violation
/// is `corruptStream`. Same arithmetic as `Rans.decode` (64-bit states), so the two agree on every
/// input.
struct RansReader {
    private let data: ArraySlice<UInt8>
    private let cdf: CdfTables
    let lanes: Int
    let words: Int
    private var x: [UInt64]
    private var p = 0
    /// Symbols read so far.
    private(set) var count = 0
    /// `maxSymbols`: the most symbols the caller may read (the syntax's bound; more is corrupt).
    private let maxSymbols: Int

    /// Reads and checks the substream's header: lane count (<= 1024), word count, the size
    /// (exactly `data.count`), every initial state >= 2^16.
    init(_ data: ArraySlice<UInt8>, cdf: CdfTables, maxSymbols: Int = Int.max) throws {
        guard data.count >= 6 else { throw MLVCError.corruptStream("rANS substream header truncated") }
        let lanes = Int(readU16(data, 0))
        let nwords = Int(readU32(data, 2))
        let size = 6 + 4 * lanes + 2 * nwords
        guard size <= data.count else { throw MLVCError.corruptStream("rANS substream truncated") }
        guard size == data.count else { throw MLVCError.corruptStream("rANS substream has trailing bytes") }
        guard lanes <= Rans.maxLanes else {
            throw MLVCError.corruptStream("rANS lane count \(lanes) above \(Rans.maxLanes)")
        }
        guard lanes > 0 || nwords == 0 else {
            throw MLVCError.corruptStream("rANS substream not empty for zero symbols")
        }
        var x = [UInt64](repeating: 0, count: lanes)
        for l in 0..<lanes {
            x[l] = UInt64(readU32(data, 6 + 4 * l))
            guard x[l] >= Rans.stateLow else { throw MLVCError.corruptStream("rANS initial state out of range") }
        }
        self.data = data
        self.cdf = cdf
        self.lanes = lanes
        self.words = nwords
        self.x = x
        self.maxSymbols = maxSymbols
    }

    /// The next symbol's table-local index (0...2*radius[table]).
    mutating func next(table: Int) throws -> Int {
        guard lanes > 0 else { throw MLVCError.corruptStream("rANS substream has no lanes for a symbol") }
        guard count < maxSymbols else { throw MLVCError.corruptStream("rANS: more symbols than the syntax allows") }
        guard table >= 0, table < cdf.numTables else {
            throw MLVCError.corruptStream("rANS: table index \(table) out of range")
        }
        let lane = count % lanes
        var s = x[lane]
        let slot = s & 0xFFFF
        let base = cdf.start[table]
        var lo = 0, hi = 2 * Int(cdf.radius[table]) + 1
        let k: Int = cdf.cdf.withUnsafeBufferPointer { c in
            while hi - lo > 1 {
                let mid = (lo + hi) >> 1
                if UInt64(c[base + mid]) <= slot { lo = mid } else { hi = mid }
            }
            let cLo = UInt64(c[base + lo])
            let f = UInt64(c[base + lo + 1]) - cLo
            s = f * (s >> 16) + slot - cLo
            return lo
        }
        if s < Rans.stateLow {
            guard p < words else { throw MLVCError.corruptStream("rANS substream ran out of words") }
            s = (s << 16) | UInt64(readU16(data, 6 + 4 * lanes + 2 * p))
            p += 1
        }
        x[lane] = s
        count += 1
        return k
    }

    /// The next binary symbol (0 or 1) of frequency `f` (docs/bitstream.md §4c): the table
    /// `cdf = [0, f, 65536]`, so `k = 0` when `slot < f`, then the same state update and
    /// renormalisation as a table symbol. `f` must be in 1...65535 (the caller checks the stream's
    /// frequencies; anything else is `corruptStream` here too).
    mutating func binary(frequency f: Int) throws -> Int {
        guard lanes > 0 else { throw MLVCError.corruptStream("rANS substream has no lanes for a symbol") }
        guard count < maxSymbols else { throw MLVCError.corruptStream("rANS: more symbols than the syntax allows") }
        guard f >= 1, f <= 0xFFFF else { throw MLVCError.corruptStream("rANS: binary frequency \(f) outside 1..65535") }
        let lane = count % lanes
        var s = x[lane]
        let slot = s & 0xFFFF
        let f0 = UInt64(f)
        let k: Int
        if slot < f0 {
            k = 0
            s = f0 * (s >> 16) + slot
        } else {
            k = 1
            s = (65536 - f0) * (s >> 16) + slot - f0
        }
        if s < Rans.stateLow {
            guard p < words else { throw MLVCError.corruptStream("rANS substream ran out of words") }
            s = (s << 16) | UInt64(readU16(data, 6 + 4 * lanes + 2 * p))
            p += 1
        }
        x[lane] = s
        count += 1
        return k
    }

    /// The next symbol's value, `index - radius[table]` (-radius...radius).
    mutating func value(table: Int) throws -> Int {
        let k = try next(table: table)
        return k - Int(cdf.radius[table])
    }

    /// End checks (§5): every word consumed, every state back at 2^16, and the header's counts
    /// consistent with the symbols read (lanes 0 iff none, lanes <= symbols, words <= symbols).
    func finish() throws {
        if count == 0 {
            guard lanes == 0, words == 0 else {
                throw MLVCError.corruptStream("rANS substream not empty for zero symbols")
            }
            return
        }
        guard lanes >= 1, lanes <= min(count, Rans.maxLanes) else {
            throw MLVCError.corruptStream("rANS lane count \(lanes) invalid for \(count) symbols")
        }
        guard words <= count else {
            throw MLVCError.corruptStream("rANS substream declares more words than symbols")
        }
        guard p == words, x.allSatisfy({ $0 == Rans.stateLow }) else {
            throw MLVCError.corruptStream("rANS substream did not end in the initial state")
        }
    }
}

/// Bounds-checked little-endian reads through a payload: reading past the end is
/// `corruptStream("<what> truncated")`.
struct ByteCursor {
    let bytes: ArraySlice<UInt8>
    private(set) var pos: Int
    let what: String

    init(_ bytes: ArraySlice<UInt8>, what: String) {
        self.bytes = bytes
        self.pos = bytes.startIndex
        self.what = what
    }

    var remaining: Int { bytes.endIndex - pos }

    mutating func u8() throws -> UInt8 {
        guard remaining >= 1 else { throw MLVCError.corruptStream("\(what) truncated") }
        defer { pos += 1 }
        return bytes[pos]
    }

    mutating func u16() throws -> UInt16 {
        guard remaining >= 2 else { throw MLVCError.corruptStream("\(what) truncated") }
        defer { pos += 2 }
        return UInt16(bytes[pos]) | UInt16(bytes[pos + 1]) << 8
    }

    mutating func u32() throws -> UInt32 {
        guard remaining >= 4 else { throw MLVCError.corruptStream("\(what) truncated") }
        defer { pos += 4 }
        return UInt32(bytes[pos]) | UInt32(bytes[pos + 1]) << 8 | UInt32(bytes[pos + 2]) << 16
            | UInt32(bytes[pos + 3]) << 24
    }

    /// The next `n` bytes (n >= 0 checked against what is left, so a huge length cannot trap).
    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw MLVCError.corruptStream("\(what): length \(n) past the payload end") }
        defer { pos += n }
        return bytes[pos..<(pos + n)]
    }

    /// Everything left.
    mutating func rest() -> ArraySlice<UInt8> {
        defer { pos = bytes.endIndex }
        return bytes[pos...]
    }
}
