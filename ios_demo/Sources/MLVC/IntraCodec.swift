/// Everything an intra payload's parse path produced (docs/bitstream.md §4 steps 3-6): an intra
/// frame, or the residual of a mode-1 / mode-3 P-frame (§4b).
public struct ParsedIntraFrame {
    /// Hyper-latent `z` (h_s input), 1 x PH/64 x PW/64 x Nz.
    public let zHat: Int8Tensor
    /// Table index of every latent element (flattened latent grid).
    public let tableIndex: [Int32]
    /// Decoded latent symbols `s` (table-local index minus radius).
    public let ySymbols: [Int32]
    /// Synthesis input, 1 x PH/16 x PW/16 x M.
    public let yHat: Int8Tensor
}

/// The parse path: rounding shift, table index, rANS, y_hat rebuild. Integer arithmetic only.
public enum ParsePath {
    /// round(v / 2^d), ties upward: floor((v + 2^(d-1)) / 2^d); d == 0 leaves v unchanged.
    @inline(__always) public static func roundShift(_ v: Int32, _ d: Int) -> Int32 {
        d == 0 ? v : (v + (Int32(1) << (d - 1))) >> Int32(d)
    }

    /// clamp(sigma_index - K*exp, 0, T-1).
    @inline(__always) public static func tableIndex(_ sigmaIndex: Int8, exp: Int, tablesPerOctave: Int, numTables: Int) -> Int32 {
        let t = Int(sigmaIndex) - tablesPerOctave * exp
        return Int32(min(max(t, 0), numTables - 1))
    }

    /// clamp(q * 2^d, -128, 127).
    @inline(__always) public static func rebuild(_ q: Int32, _ d: Int) -> Int8 {
        Int8(min(max(q << Int32(d), -128), 127))
    }
}

/// Decodes intra payloads (intra frames and P-frame residuals) with one package, one network runner
/// and one network set: h_s, g_s, `z_table_index` (`.intra`) or res_h_s, res_g_s,
/// `res_z_table_index` (`.residual`, packages with residual networks only).
final class IntraCodec {
    let package: ModelPackage
    let network: NetworkRunner
    let networks: NetworkSet
    private let zTableIndex: [Int32]

    init(package: ModelPackage, network: NetworkRunner, networks: NetworkSet = .intra) throws {
        switch networks {
        case .intra:
            zTableIndex = package.zTableIndex
        case .residual:
            guard let r = package.residualZTableIndex else {
                throw MLVCError.invalidArgument("this model package has no residual networks")
            }
            zTableIndex = r
        }
        self.package = package
        self.network = network
        self.networks = networks
    }

    func paddedSize(width: Int, height: Int) -> (ph: Int, pw: Int) {
        let a = package.alignment
        return ((height + a - 1) / a * a, (width + a - 1) / a * a)
    }

    /// Shape of y_hat (the h_s outputs, the g_s input) for this codec's set: 1 x PH/16 x PW/16 x M,
    /// M the set's own latent channel count (`ModelPackage.latentChannels(of:)`).
    func latentShape(width: Int, height: Int) -> [Int] {
        let (ph, pw) = paddedSize(width: width, height: height)
        return [1, ph / 16, pw / 16, package.latentChannels(of: networks)]
    }

    /// Shape of z (the h_s input): 1 x PH/64 x PW/64 x Nz.
    func hyperShape(width: Int, height: Int) -> [Int] {
        let (ph, pw) = paddedSize(width: width, height: height)
        return [1, ph / 64, pw / 64, package.hyperChannels]
    }

    private func runNetwork(_ role: NetworkRole, _ input: Int8Tensor) throws -> [String: Int8Tensor] {
        do {
            return try network.run(role: role, input: input)
        } catch let e as MLVCError {
            throw e
        } catch {
            throw MLVCError.backend("\(role.rawValue) failed: \(error)")
        }
    }

    private func output(_ outs: [String: Int8Tensor], _ name: String, count: Int, role: NetworkRole) throws -> [Int8] {
        guard let t = outs[name] else { throw MLVCError.backend("\(role.rawValue) returned no output '\(name)'") }
        guard t.values.count == count else {
            throw MLVCError.backend("\(role.rawValue) output '\(name)' has \(t.values.count) values, expected \(count)")
        }
        return t.values
    }

    func parse(payload: ArraySlice<UInt8>, width: Int, height: Int, quality: Int) throws -> ParsedIntraFrame {
        guard let exp = package.levels[quality] else {
            throw MLVCError.corruptStream("quality level \(quality) is not in the package")
        }
        let d = exp - package.yExp
        let nz = package.hyperChannels
        let yShape = latentShape(width: width, height: height), zShape = hyperShape(width: width, height: height)
        let ny = yShape.reduce(1, *), nzTotal = zShape.reduce(1, *)
        guard payload.count >= 4 else { throw MLVCError.corruptStream("intra payload truncated") }
        let zlen = Int(readU32(payload, 0))
        guard zlen <= payload.count - 4 else {
            throw MLVCError.corruptStream("intra payload: z substream longer than the payload")
        }
        let s0 = payload.startIndex + 4
        let tables = package.tables
        // Hyper-latent (§4.3).
        var zt = [Int32](repeating: 0, count: nzTotal)
        for i in 0..<nzTotal { zt[i] = zTableIndex[i % nz] }
        let kz = try Rans.decode(payload[s0..<(s0 + zlen)], tables: zt, cdf: tables)
        var z = [Int8](repeating: 0, count: nzTotal)
        // z tables may have radius up to 255, so z can leave int8: wrap modulo 256 as the Python
        // reference (`astype(np.int8)`) and the Kotlin port do; `Int8(_:)` would trap.
        for i in 0..<nzTotal { z[i] = Int8(truncatingIfNeeded: kz[i] - tables.radius[Int(zt[i])]) }
        let zHat = Int8Tensor(shape: zShape, values: z)
        // h_s (§4.4; res_h_s for a residual set) and entropy parameters (§4.5).
        let hsRole = networks.hyperSynthesis
        let hs = try runNetwork(hsRole, zHat)
        let mu = try output(hs, "mu", count: ny, role: hsRole)
        let sigma = try output(hs, "sigma_index", count: ny, role: hsRole)
        var t = [Int32](repeating: 0, count: ny)
        var muL = [Int32](repeating: 0, count: ny)
        for i in 0..<ny {
            muL[i] = ParsePath.roundShift(Int32(mu[i]), d)
            t[i] = ParsePath.tableIndex(sigma[i], exp: exp, tablesPerOctave: package.tablesPerOctave,
                                        numTables: tables.numTables)
        }
        // Latent (§4.6).
        let ky = try Rans.decode(payload[(s0 + zlen)...], tables: t, cdf: tables)
        var s = [Int32](repeating: 0, count: ny)
        var y = [Int8](repeating: 0, count: ny)
        for i in 0..<ny {
            s[i] = ky[i] - tables.radius[Int(t[i])]
            y[i] = ParsePath.rebuild(muL[i] + s[i], d)
        }
        return ParsedIntraFrame(zHat: zHat, tableIndex: t, ySymbols: s, yHat: Int8Tensor(shape: yShape, values: y))
    }

    /// g_s (of this set) and cropping (§4.7): H x W x 3 RGB bytes (`image + 128`), an intra frame's picture.
    func synthesise(_ yHat: Int8Tensor, width: Int, height: Int) throws -> [UInt8] {
        try synthesiseSigned(yHat, width: width, height: height).map { UInt8(bitPattern: $0) ^ 0x80 }
    }

    /// g_s and cropping: the H x W x 3 int8 signal itself (a P-frame's residual, §4b).
    func synthesiseSigned(_ yHat: Int8Tensor, width: Int, height: Int) throws -> [Int8] {
        let (ph, pw) = paddedSize(width: width, height: height)
        let gsRole = networks.synthesis
        let out = try runNetwork(gsRole, yHat)
        let img = try output(out, "image", count: ph * pw * 3, role: gsRole)
        var signal = [Int8](repeating: 0, count: height * width * 3)
        img.withUnsafeBufferPointer { src in
            signal.withUnsafeMutableBufferPointer { dst in
                for r in 0..<height {
                    let so = r * pw * 3, dO = r * width * 3
                    for i in 0..<(width * 3) { dst[dO + i] = src[so + i] }
                }
            }
        }
        return signal
    }
}
