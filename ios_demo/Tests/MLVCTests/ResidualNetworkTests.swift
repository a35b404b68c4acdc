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

    /// The golden package with other z tables (nil `residual`: no residual networks).
    func package(_ g: ModelPackage, intra: [Int32], residual: [Int32]?) throws -> ModelPackage {
        try ModelPackage(modelID: g.modelID, modelHash: g.modelHash, levels: g.levels, yExp: g.yExp,
                         alignment: g.alignment, latentChannels: g.latentChannels,
                         hyperChannels: g.hyperChannels, tablesPerOctave: g.tablesPerOctave,
                         zTableIndex: intra, residualZTableIndex: residual, maxWidth: g.maxWidth,
                         maxHeight: g.maxHeight, tables: g.tables)
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
                                             residual: residual)
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
        let n = try decodeRecoded(p, intra: a, residual: a, "no residual networks")
        let want = try 2 * residualPayloadCount()
        XCTAssertEqual(n, want, "h_s + g_s per residual")
        assertThrowsKind("invalid_argument", "residual codec without residual networks") {
            try IntraCodec(package: p, network: GoldenNetworkRunner(frames: []), networks: .residual)
        }
    }

    /// A package directory: the golden tables and the golden package.json after `edit`.
    func packageDirectory(_ edit: (inout [String: Any]) -> Void) throws -> URL {
        let dir = tmp.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for f in ["tables.radius.i32", "tables.cdf.u32"] {
            try FileManager.default.copyItem(at: Golden.dir.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Golden.data("package.json")) as? [String: Any])
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("package.json"))
        return dir
    }

    func testPackageJSONWithoutResidualNetworksLoadsAndKeepsTheOldBehaviour() throws {
        let g = try Golden.package()
        let variants: [(String, (inout [String: Any]) -> Void)] = [
            ("residual_networks false, res_z_table_index null",
             { $0["residual_networks"] = false; $0["res_z_table_index"] = NSNull() }),
            ("both keys absent (older package.json)",
             { $0.removeValue(forKey: "residual_networks"); $0.removeValue(forKey: "res_z_table_index") }),
            ("residual_networks absent, res_z_table_index null",
             { $0.removeValue(forKey: "residual_networks"); $0["res_z_table_index"] = NSNull() }),
        ]
        for (what, edit) in variants {
            let dir = try packageDirectory(edit)
            let p = try ModelPackage.load(directory: dir)
            XCTAssertFalse(p.hasResidualNetworks, what)
            XCTAssertNil(p.residualZTableIndex, what)
            XCTAssertEqual(p.zTableIndex, g.zTableIndex, what)
            XCTAssertGreaterThan(try decodeRecoded(p, intra: g.zTableIndex, residual: g.zTableIndex, what), 0)
            // The same through DecoderOptions (package loaded by the decoder).
            let s = try XCTUnwrap(try Golden.streams().first { $0.frames.contains { $0.type == "P" && $0.hasIntraPayload } })
            let frames = try Golden.frames(of: s, alignment: g.alignment)
            let runner = GoldenNetworkRunner(frames: frames)
            let bytes = try Golden.recodingZ(s, frames: frames, tables: g.tables, intra: g.zTableIndex,
                                             residual: g.zTableIndex)
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
