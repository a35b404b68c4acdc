/// Frozen integer CDF tables (docs/bitstream.md §7): table t codes symbols -radius[t]...radius[t]
/// with `2*radius[t] + 2` cumulative frequencies 0 = c[0] < ... < c[n] = 65536.
public struct CdfTables {
    public static let precision: UInt32 = 16
    public let radius: [Int32]
    public let cdf: [UInt32]
    /// Offset of table t's first entry in `cdf`.
    public let start: [Int]

    public var numTables: Int { radius.count }

    /// Checks the structure; any violation is a `model` error.
    public init(radius: [Int32], cdf: [UInt32]) throws {
        guard !radius.isEmpty else { throw MLVCError.model("CDF tables: no tables") }
        var start = [Int]()
        var o = 0
        for (t, r) in radius.enumerated() {
            guard (1...255).contains(r) else { throw MLVCError.model("CDF table \(t): radius \(r) outside 1..255") }
            start.append(o)
            let n = 2 * Int(r) + 2
            guard o + n <= cdf.count else { throw MLVCError.model("CDF tables: cdf array too short") }
            guard cdf[o] == 0, cdf[o + n - 1] == 1 << CdfTables.precision else {
                throw MLVCError.model("CDF table \(t) does not run from 0 to 65536")
            }
            for k in 0..<(n - 1) where cdf[o + k + 1] <= cdf[o + k] {
                throw MLVCError.model("CDF table \(t) is not strictly increasing at \(k)")
            }
            o += n
        }
        guard o == cdf.count else { throw MLVCError.model("CDF tables: \(cdf.count - o) extra cdf entries") }
        self.radius = radius
        self.cdf = cdf
        self.start = start
    }

    /// SHA-256 of `radius` as int32 LE followed by `cdf` as uint32 LE (the manifest's `tables.sha256`).
    public func sha256() -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(4 * (radius.count + cdf.count))
        for r in radius { let v = UInt32(bitPattern: r); for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
        for c in cdf { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: c >> (8 * UInt32(i)))) } }
        return SHA256.hash(bytes)
    }
}
