import Foundation
import XCTest
@testable import MLVC

/// Residual networks (docs/bitstream.md §4b): P-frame residuals use res_h_s, res_g_s and
/// `res_z_table_index` when the package has them, the intra set (h_s, g_s, `z_table_index`)
/// otherwise; I-frames always use the intra set. The golden residual networks may equal the intra
/// ones (same recorded outputs, same z tables), so besides the role of every network call these
/// tests make the z tables tell the sets apart: the golden streams' z substreams are re-encoded
/// with other valid tables and decoded with a package that names those tables.
final class ResidualNetworkTests: XCTestCase {
    private var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("mlvc-res-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tmp)
    }

    func testRoleNamesAndSetsAreThePackageNetworkNames() {
        XCTAssertEqual(NetworkRole.allCases.map(\.rawValue), ["h_s", "g_s", "res_h_s", "res_g_s"])
        XCTAssertEqual([NetworkSet.intra.hyperSynthesis, NetworkSet.intra.synthesis].map(\.rawValue), ["h_s", "g_s"])
        XCTAssertEqual([NetworkSet.residual.hyperSynthesis, NetworkSet.residual.synthesis].map(\.rawValue),
                       ["res_h_s", "res_g_s"])
        XCTAssertEqual(NetworkRole.allCases.filter(\.isHyperSynthesis).map(\.rawValue), ["h_s", "res_h_s"])
        XCTAssertEqual(NetworkRole.allCases.map(\.networkSet), [.intra, .intra, .residual, .residual])
        for role in NetworkRole.allCases {
            // same interface in both sets (docs/bitstream.md §4b)
            XCTAssertEqual(role.inputName, role.isHyperSynthesis ? "z" : "y_hat", role.rawValue)
            XCTAssertEqual(role.outputNames, role.isHyperSynthesis ? ["mu", "sigma_index"] : ["image"], role.rawValue)
        }
    }

    /// The golden package with other z tables (nil `residual`: no residual networks) and residual
    /// latent channels (nil: the golden ones with residual networks, latent_channels without).
    func package(_ g: ModelPackage, intra: [Int32], residual: [Int32]?, residualLatent: Int? = nil) throws -> ModelPackage {
        try ModelPackage(modelID: g.modelID, modelHash: g.modelHash, levels: g.levels, yExp: g.yExp,
                         alignment: g.alignment, latentChannels: g.latentChannels,
                         hyperChannels: g.hyperChannels, tablesPerOctave: g.tablesPerOctave,
                         zTableIndex: intra, residualZTableIndex: residual,
                         residualLatentChannels: residualLatent ?? (residual == nil ? nil : g.residualLatentChannels),
                         maxWidth: g.maxWidth, maxHeight: g.maxHeight, tables: g.tables)
    }

    /// Whether the golden residual latent has its own channel count: the recorded residual
    /// answers then cannot serve a decoder that codes residuals with the intra set.
    func goldenCountsDiffer(_ g: ModelPackage) -> Bool { g.residualLatentChannels != g.latentChannels }

    /// With `goldenCountsDiffer`: `package` (no residual networks) fails every golden residual
    /// stream (recoded with `intra` z tables) at its first residual, h_s answering in the wrong shape.
    func assertIntraSetCannotDecodeGoldenResiduals(_ package: ModelPackage, intra: [Int32], _ what: String,
                                                   line: UInt = #line) throws {
        for s in try Golden.streams() {
            guard let first = s.frames.firstIndex(where: { $0.type == "P" && $0.hasIntraPayload }) else { continue }
            let frames = try Golden.frames(of: s, alignment: package.alignment)
            let bytes = try Golden.recodingZ(s, frames: frames, tables: package.tables, intra: intra, residual: intra,
                                             modelHash: package.modelHash)
            let decoder = try Decoder(data: Data(bytes), package: package, network: GoldenNetworkRunner(frames: frames))
            var decoded = 0
            assertThrowsKind("backend", "\(what): \(s.name)", line: line) {
                while try decoder.next() != nil { decoded += 1 }
            }
            XCTAssertEqual(decoded, first, "\(what): \(s.name): frames before the first residual", line: line)
        }
    }

    /// Per hyper channel, two tables (a, b) that differ from each other and from the golden
    /// `z_table_index` / `res_z_table_index`, both wide enough for every recorded z value.
    func otherTables(_ g: ModelPackage) throws -> (a: [Int32], b: [Int32]) {
        var maxAbs: Int32 = 0
        for s in try Golden.streams() {
            for f in try Golden.frames(of: s, alignment: g.alignment) {
                for v in f.payload?.z.values ?? [] { maxAbs = max(maxAbs, abs(Int32(v))) }
            }
        }
        let wide = (0..<Int32(g.tables.numTables)).filter { g.tables.radius[Int($0)] >= maxAbs }
        var a = [Int32](), b = [Int32]()
        for c in 0..<g.hyperChannels {
            let taken = [g.zTableIndex[c], g.residualZTableIndex?[c] ?? g.zTableIndex[c]]
            let free = wide.filter { !taken.contains($0) }
            guard free.count >= 2 else { throw goldenMissing("fewer than two spare CDF tables wide enough for z") }
            a.append(free[0])
            b.append(free[1])
        }
        return (a, b)
    }

    /// Decodes every golden stream, its z substreams re-encoded with `intra` / `residual`, with
    /// `package` and the golden runner (which checks every network input): every picture must
    /// verify, and every call must use the set `package.hasResidualNetworks` implies. Returns the
    /// number of P-frame residual calls.
    @discardableResult
    func decodeRecoded(_ package: ModelPackage, intra: [Int32], residual: [Int32], _ what: String,
                       line: UInt = #line) throws -> Int {
        var residualCalls = 0
        for s in try Golden.streams() {
            let frames = try Golden.frames(of: s, alignment: package.alignment)
            let bytes = try Golden.recodingZ(s, frames: frames, tables: package.tables, intra: intra,
                                             residual: residual, modelHash: package.modelHash)
            let runner = GoldenNetworkRunner(frames: frames)
            let decoded = try Decoder(data: Data(bytes), package: package, network: runner).decodeAll()
            XCTAssertEqual(decoded.map { Hex.encode($0.md5) }, s.frames.map(\.md5), "\(what): \(s.name)", line: line)
            XCTAssertTrue(decoded.allSatisfy(\.verified), "\(what): \(s.name)", line: line)
            XCTAssertEqual(runner.hsCalls, s.frames.filter(\.hasIntraPayload).count, "\(what): \(s.name)", line: line)
            residualCalls += assertNetworkSets(runner, residualNetworks: package.hasResidualNetworks,
                                               "\(what): \(s.name)", line: line)
        }
        return residualCalls
    }

    func residualPayloadCount() throws -> Int {
        try Golden.streams().reduce(0) { $0 + $1.frames.filter { $0.type == "P" && $0.hasIntraPayload }.count }
    }

    func testResidualsUseResZTableIndexAndTheResidualNetworks() throws {
        let g = try Golden.package()
        let (a, b) = try otherTables(g)
        let n = try decodeRecoded(try package(g, intra: a, residual: b), intra: a, residual: b, "intra a, residual b")
        let want = try 2 * residualPayloadCount()
        XCTAssertEqual(n, want, "res_h_s + res_g_s per residual")
        XCTAssertGreaterThan(n, 0, "the golden streams have P-frame residuals")
        // The re-encoding does tell the sets apart: a decoder coding residual z with a's tables fails.
        let intraOnly = try package(g, intra: a, residual: nil)
        var failed = 0
        for s in try Golden.streams() where s.frames.contains(where: { $0.type == "P" && $0.hasIntraPayload }) {
            let frames = try Golden.frames(of: s, alignment: g.alignment)
            let bytes = try Golden.recodingZ(s, frames: frames, tables: g.tables, intra: a, residual: b)
            XCTAssertThrowsError(try Decoder(data: Data(bytes), package: intraOnly,
                                             network: GoldenNetworkRunner(frames: frames)).decodeAll(), s.name) {
                XCTAssertTrue($0 is MLVCError, "\($0)")
            }
            failed += 1
        }
        XCTAssertGreaterThan(failed, 0)
    }

    func testPackageWithoutResidualNetworksCodesResidualsWithTheIntraSet() throws {
        let g = try Golden.package()
        let (a, _) = try otherTables(g)
        let p = try package(g, intra: a, residual: nil)
        XCTAssertFalse(p.hasResidualNetworks)
        XCTAssertEqual(p.latentChannels(of: .residual), p.latentChannels)
        if goldenCountsDiffer(g) {
            try assertIntraSetCannotDecodeGoldenResiduals(p, intra: a, "no residual networks")
        } else {
            let n = try decodeRecoded(p, intra: a, residual: a, "no residual networks")
            let want = try 2 * residualPayloadCount()
            XCTAssertEqual(n, want, "h_s + g_s per residual")
        }
        assertThrowsKind("invalid_argument", "residual codec without residual networks") {
            try IntraCodec(package: p, network: GoldenNetworkRunner(frames: []), networks: .residual)
        }
    }

    /// A package directory: the golden tables and the golden package.json after `edit`, with a
    /// manifest.json that says what the edited package.json says (network sets, residual z tables,
    /// residual latent channels, where those are valid) and package.json's model_hash set to that
    /// manifest's recomputed content hash: these packages exercise package.json's own checks.
    func packageDirectory(_ edit: (inout [String: Any]) -> Void) throws -> URL {
        let dir = tmp.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for f in ["tables.radius.i32", "tables.cdf.u32"] {
            try FileManager.default.copyItem(at: Golden.dir.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Golden.data("package.json")) as? [String: Any])
        edit(&json)
        var m = try Golden.manifest()
        let residual = json["residual_networks"] as? Bool ?? false
        for (r, i) in zip(PackageManifest.residualRoles, PackageManifest.roles) {
            m.networks[r] = residual ? (m.networks[r] ?? m.networks[i]) : nil
        }
        m.resZTableIndex = json["res_z_table_index"] as? [Int]
        m.resLatentChannels = json["res_latent_channels"] as? Int
        try Data(m.jsonWithContentHash()).write(to: dir.appendingPathComponent("manifest.json"))
        json["model_hash"] = String(m.computeContentHash().prefix(32))
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("package.json"))
        return dir
    }

    func testPackageJSONWithoutResidualNetworksLoadsAndKeepsTheOldBehaviour() throws {
        let g = try Golden.package()
        // (res_latent_channels as golden.py writes it for a package without residual networks.)
        let variants: [(String, (inout [String: Any]) -> Void)] = [
            ("residual_networks false, res_z_table_index null",
             { $0["residual_networks"] = false; $0["res_z_table_index"] = NSNull(); $0["res_latent_channels"] = $0["latent_channels"] }),
            ("all three keys absent (older package.json)",
             { $0.removeValue(forKey: "residual_networks"); $0.removeValue(forKey: "res_z_table_index")
               $0.removeValue(forKey: "res_latent_channels") }),
            ("residual_networks absent, res_z_table_index null, res_latent_channels null",
             { $0.removeValue(forKey: "residual_networks"); $0["res_z_table_index"] = NSNull(); $0["res_latent_channels"] = NSNull() }),
        ]
        for (what, edit) in variants {
            let dir = try packageDirectory(edit)
            let p = try ModelPackage.load(directory: dir)
            XCTAssertFalse(p.hasResidualNetworks, what)
            XCTAssertNil(p.residualZTableIndex, what)
            XCTAssertEqual(p.zTableIndex, g.zTableIndex, what)
            XCTAssertEqual(p.residualLatentChannels, g.latentChannels, what)
            if goldenCountsDiffer(g) {
                try assertIntraSetCannotDecodeGoldenResiduals(p, intra: g.zTableIndex, what)
                continue
            }
            XCTAssertGreaterThan(try decodeRecoded(p, intra: g.zTableIndex, residual: g.zTableIndex, what), 0)
            // The same through DecoderOptions (package loaded by the decoder).
            let s = try XCTUnwrap(try Golden.streams().first { $0.frames.contains { $0.type == "P" && $0.hasIntraPayload } })
            let frames = try Golden.frames(of: s, alignment: g.alignment)
            let runner = GoldenNetworkRunner(frames: frames)
            let bytes = try Golden.recodingZ(s, frames: frames, tables: g.tables, intra: g.zTableIndex,
                                             residual: g.zTableIndex, modelHash: p.modelHash)
            let decoded = try Decoder(data: Data(bytes), options: try DecoderOptions(packageDirectory: dir),
                                      network: runner).decodeAll()
            XCTAssertTrue(decoded.allSatisfy(\.verified), what)
            assertNetworkSets(runner, residualNetworks: false, what)
        }
    }

    func testPackageJSONWithResidualNetworksLoadsItsResidualTables() throws {
        let g = try Golden.package()
        let (_, b) = try otherTables(g)
        let dir = try packageDirectory {
            $0["residual_networks"] = true
            $0["res_z_table_index"] = b.map { Int($0) }
        }
        let p = try ModelPackage.load(directory: dir)
        XCTAssertTrue(p.hasResidualNetworks)
        XCTAssertEqual(p.residualZTableIndex, b)
        XCTAssertEqual(p.zTableIndex, g.zTableIndex)
        XCTAssertGreaterThan(try decodeRecoded(p, intra: g.zTableIndex, residual: b, "loaded residual tables"), 0)
    }

    /// `res_latent_channels`: absent / null = latent_channels; an integer 1...1024; a value other
    /// than latent_channels only with residual networks (golden.py writes latent_channels for a
    /// package without them, which loads). Loaded directly and through `DecoderOptions`.
    func testResLatentChannelsInPackageJSON() throws {
        let g = try Golden.package()
        let m = g.latentChannels
        let other = m > 1 ? m / 2 : 2   // some count other than the intra one
        let z = g.zTableIndex.map { Int($0) }
        func residual(_ v: Any?) -> (inout [String: Any]) -> Void {
            { $0["residual_networks"] = true; $0["res_z_table_index"] = z
              if let v = v { $0["res_latent_channels"] = v } else { $0.removeValue(forKey: "res_latent_channels") } }
        }
        func none(_ v: Any?) -> (inout [String: Any]) -> Void {
            { $0["residual_networks"] = false; $0["res_z_table_index"] = NSNull()
              if let v = v { $0["res_latent_channels"] = v } else { $0.removeValue(forKey: "res_latent_channels") } }
        }
        let loads: [(String, (inout [String: Any]) -> Void, Bool, Int)] = [
            ("residual networks, absent", residual(nil), true, m),
            ("residual networks, null", residual(NSNull()), true, m),
            ("residual networks, equal", residual(m), true, m),
            ("residual networks, its own count", residual(other), true, other),
            ("residual networks, 1", residual(1), true, 1),
            ("residual networks, 1024", residual(1024), true, 1024),
            ("no residual networks, absent", none(nil), false, m),
            ("no residual networks, null", none(NSNull()), false, m),
            ("no residual networks, equal (as golden.py writes it)", none(m), false, m),
        ]
        for (what, edit, hasResidual, want) in loads {
            let p = try ModelPackage.load(directory: try packageDirectory(edit))
            XCTAssertEqual(p.hasResidualNetworks, hasResidual, what)
            XCTAssertEqual(p.latentChannels, m, what)
            XCTAssertEqual(p.residualLatentChannels, want, what)
            XCTAssertEqual(p.latentChannels(of: .intra), m, what)
            XCTAssertEqual(p.latentChannels(of: .residual), want, what)
        }
        let failures: [(String, (inout [String: Any]) -> Void)] = [
            ("given without residual networks", none(other)),
            ("given, residual_networks absent",
             { $0.removeValue(forKey: "residual_networks"); $0.removeValue(forKey: "res_z_table_index"); $0["res_latent_channels"] = other }),
            ("0", residual(0)), ("1025", residual(1025)), ("-1", residual(-1)), ("2^40", residual(1 << 40)),
            ("not an integer (fraction)", residual(Double(other) + 0.5)), ("not an integer (string)", residual("\(other)")),
            ("not an integer (boolean)", residual(true)), ("not an integer (list)", residual([other])),
        ]
        let s = try XCTUnwrap(try Golden.streams().first)
        for (what, edit) in failures {
            let dir = try packageDirectory(edit)
            assertThrowsKind("model", what) { try ModelPackage.load(directory: dir) }
            assertThrowsKind("model", "\(what) (decoder)") {
                try Decoder(data: Golden.data(s.stream), options: try DecoderOptions(packageDirectory: dir),
                            network: GoldenNetworkRunner(frames: []))
            }
        }
        // The initializer checks the same.
        XCTAssertEqual(try package(g, intra: g.zTableIndex, residual: g.zTableIndex, residualLatent: other)
            .latentChannels(of: .residual), other)
        assertThrowsKind("model", "init: other count without residual networks") {
            try package(g, intra: g.zTableIndex, residual: nil, residualLatent: other)
        }
        assertThrowsKind("model", "init: 0") { try package(g, intra: g.zTableIndex, residual: g.zTableIndex, residualLatent: 0) }
        assertThrowsKind("model", "init: 1025") { try package(g, intra: g.zTableIndex, residual: g.zTableIndex, residualLatent: 1025) }
    }

    /// The golden payloads' y shapes are the latent shapes of their set (its own channel count).
    func testGoldenLatentShapesFollowTheSet() throws {
        let g = try Golden.package()
        let runner = GoldenNetworkRunner(frames: [])
        let intra = try IntraCodec(package: g, network: runner)
        let res = try IntraCodec(package: g, network: runner, networks: g.hasResidualNetworks ? .residual : .intra)
        var residuals = 0
        for s in try Golden.streams() {
            for f in try Golden.frames(of: s, alignment: g.alignment) {
                guard let p = f.payload else { continue }
                let codec = p.frameType == "P" ? res : intra
                if p.frameType == "P" { residuals += 1 }
                XCTAssertEqual(p.yShape, codec.latentShape(width: s.width, height: s.height), "\(s.name) frame \(f.index)")
                XCTAssertEqual(p.z.shape, codec.hyperShape(width: s.width, height: s.height), "\(s.name) frame \(f.index)")
                XCTAssertEqual(p.yShape[3], g.latentChannels(of: codec.networks), "\(s.name) frame \(f.index)")
            }
        }
        if residuals == 0 { throw goldenMissing("no golden P-frame residuals") }
    }

    /// Answers h_s / g_s from the golden I-frames (in order) and res_h_s / res_g_s with zeros of
    /// the shapes residual networks of `residualChannels` latent channels give; logs res inputs.
    final class ResidualShapeRunner: NetworkRunner {
        let intra: GoldenNetworkRunner
        let residualChannels: Int
        private(set) var residualInputs = [(role: String, shape: [Int])]()
        init(intra: GoldenNetworkRunner, residualChannels: Int) {
            self.intra = intra
            self.residualChannels = residualChannels
        }
        func run(role: NetworkRole, input: Int8Tensor) throws -> [String: Int8Tensor] {
            func zeros(_ shape: [Int]) -> Int8Tensor { Int8Tensor(shape: shape, values: [Int8](repeating: 0, count: shape.reduce(1, *))) }
            let s = input.shape
            switch role {
            case .residualHyperSynthesis:
                residualInputs.append((role.rawValue, s))
                let y = [1, 4 * s[1], 4 * s[2], residualChannels]
                return ["mu": zeros(y), "sigma_index": zeros(y)]
            case .residualSynthesis:
                residualInputs.append((role.rawValue, s))
                return ["image": zeros([1, 16 * s[1], 16 * s[2], 3])]
            default:
                return try intra.run(role: role, input: input)
            }
        }
    }

    /// A package whose residual networks have another latent channel count than the intra ones:
    /// I-frames keep the intra shape, residuals get the residual networks' (res_h_s outputs, the
    /// res_g_s input), and res_h_s answering in the intra shape fails (`backend`, as any wrong
    /// output size).
    func testResidualLatentChannelsOfTheirOwn() throws {
        let g = try Golden.package()
        let m = g.latentChannels
        let resC = m > 1 ? m / 2 : 2   // differs from the intra count
        let p = try package(g, intra: g.zTableIndex, residual: g.residualZTableIndex ?? g.zTableIndex, residualLatent: resC)
        XCTAssertEqual(p.latentChannels(of: .intra), m)
        XCTAssertEqual(p.latentChannels(of: .residual), resC)
        guard let s = try Golden.streams().first(where: { $0.frames.contains { $0.type == "P" && $0.hasIntraPayload } }) else {
            throw goldenMissing("no golden P-frame residuals")
        }
        let (w, h) = (s.width, s.height)
        let ph = (h + p.alignment - 1) / p.alignment * p.alignment, pw = (w + p.alignment - 1) / p.alignment * p.alignment
        let none = GoldenNetworkRunner(frames: [])
        let resCodec = try IntraCodec(package: p, network: none, networks: .residual)
        let intraCodec = try IntraCodec(package: p, network: none)
        XCTAssertEqual(resCodec.latentShape(width: w, height: h), [1, ph / 16, pw / 16, resC])
        XCTAssertEqual(intraCodec.latentShape(width: w, height: h), [1, ph / 16, pw / 16, m])
        XCTAssertEqual(resCodec.hyperShape(width: w, height: h), intraCodec.hyperShape(width: w, height: h))

        // Every residual replaced by zero symbols coded for the residual shape (h_s: sigma_index 0).
        let b = try Golden.bytes(s.stream)
        let frames = try Golden.frames(of: s, alignment: p.alignment)
        let zShape = resCodec.hyperShape(width: w, height: h), yCount = resCodec.latentShape(width: w, height: h).reduce(1, *)
        let resZ = p.residualZTableIndex!
        var out = Array(b[0..<s.header_bytes])
        var residualFrames = [Int]()
        for (k, f) in frames.enumerated() {
            let off = Golden.recordOffset(s, k), start = off + Container.recordHeaderSize
            var payload = Array(b[start..<(start + f.entry.payload_bytes)])
            if f.entry.type == "P" && f.payload != nil {
                residualFrames.append(k)
                let z0 = interResidualOffset(payload)
                let zt = (0..<zShape.reduce(1, *)).map { resZ[$0 % p.hyperChannels] }
                let zk = zt.map { p.tables.radius[Int($0)] }
                let t = ParsePath.tableIndex(0, exp: p.levels[f.entry.quality]!, tablesPerOctave: p.tablesPerOctave,
                                             numTables: p.tables.numTables)
                let yt = [Int32](repeating: t, count: yCount)
                let lanes = { (n: Int) in min(256, max(1, n / 1024)) }
                let zs = ransEncode(zk, tables: zt, cdf: p.tables, lanes: lanes(zt.count))
                let ys = ransEncode(yt.map { p.tables.radius[Int($0)] }, tables: yt, cdf: p.tables, lanes: lanes(yCount))
                payload = Array(payload[0..<z0]) + Golden.le32(UInt32(zs.count)) + zs + ys
            }
            var rec = Array(b[off..<(off + 24)])
            rec.replaceSubrange(4..<8, with: Golden.le32(UInt32(payload.count)))
            out += rec + Golden.le32(CRC32.update(CRC32.checksum(rec[...]), payload[...])) + payload
        }
        let intraFrames = frames.filter { $0.entry.type == "I" }
        let runner = ResidualShapeRunner(intra: GoldenNetworkRunner(frames: intraFrames), residualChannels: resC)
        let decoder = try Decoder(data: Data(out), options: try DecoderOptions(verifyHashes: false), package: p, network: runner)
        var yShapes = [Int: [Int]]()
        decoder.onParsed = { i, parsed in yShapes[i] = parsed.yHat.shape }
        XCTAssertEqual(try decoder.decodeAll().count, s.frames.count)
        XCTAssertEqual(runner.residualInputs.map { "\($0.role) \($0.shape)" },
                       residualFrames.flatMap { _ in ["res_h_s \(zShape)", "res_g_s \([1, ph / 16, pw / 16, resC])"] })
        for (k, f) in frames.enumerated() where f.payload != nil {
            XCTAssertEqual(yShapes[k]?.last, f.entry.type == "P" ? resC : m, "frame \(k) y_hat channels")
        }
        // res_h_s answering in the intra shape: fails at the first residual.
        let wrong = try Decoder(data: Data(out), options: try DecoderOptions(verifyHashes: false), package: p,
                                network: ResidualShapeRunner(intra: GoldenNetworkRunner(frames: intraFrames), residualChannels: m))
        var decoded = 0
        assertThrowsKind("backend", "res_h_s outputs of the intra shape") { while try wrong.next() != nil { decoded += 1 } }
        XCTAssertEqual(decoded, residualFrames.first)
    }

    func testInconsistentResidualKeysAreModelErrors() throws {
        let g = try Golden.package()
        let z = g.zTableIndex.map { Int($0) }
        let variants: [(String, (inout [String: Any]) -> Void)] = [
            ("residual networks, res_z_table_index null",
             { $0["residual_networks"] = true; $0["res_z_table_index"] = NSNull() }),
            ("residual networks, res_z_table_index absent",
             { $0["residual_networks"] = true; $0.removeValue(forKey: "res_z_table_index") }),
            ("no residual networks, res_z_table_index given",
             { $0["residual_networks"] = false; $0["res_z_table_index"] = z }),
            ("residual_networks absent, res_z_table_index given",
             { $0.removeValue(forKey: "residual_networks"); $0["res_z_table_index"] = z }),
            ("res_z_table_index one short",
             { $0["residual_networks"] = true; $0["res_z_table_index"] = Array(z.dropLast()) }),
            ("res_z_table_index one long",
             { $0["residual_networks"] = true; $0["res_z_table_index"] = z + [0] }),
            ("res_z_table_index names table T",
             { $0["residual_networks"] = true; $0["res_z_table_index"] = z.map { _ in g.tables.numTables } }),
            ("res_z_table_index negative",
             { $0["residual_networks"] = true; $0["res_z_table_index"] = z.map { _ in -1 } }),
            ("res_z_table_index not a list",
             { $0["residual_networks"] = true; $0["res_z_table_index"] = "24" }),
            ("residual_networks not a boolean",
             { $0["residual_networks"] = "yes"; $0["res_z_table_index"] = z }),
        ]
        for (what, edit) in variants {
            let dir = try packageDirectory(edit)
            assertThrowsKind("model", what) { try ModelPackage.load(directory: dir) }
            let s = try XCTUnwrap(try Golden.streams().first)
            assertThrowsKind("model", "\(what) (decoder)") {
                try Decoder(data: Golden.data(s.stream), options: try DecoderOptions(packageDirectory: dir),
                            network: GoldenNetworkRunner(frames: []))
            }
        }
    }
}
