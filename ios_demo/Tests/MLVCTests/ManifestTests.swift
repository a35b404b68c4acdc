import Foundation
import XCTest
@testable import MLVC

/// The package manifest and its content hash (`PackageManifest`, `ModelPackage.load`): the same
/// canonical bytes and hash as the Python SDK, the bundled package verified, and a tampered or
/// incomplete package refused with the model error (issue #16).
final class ManifestTests: XCTestCase {
    private var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("mlvc-manifest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tmp)
    }

    private func b64(_ s: String) throws -> [UInt8] { [UInt8](try XCTUnwrap(Data(base64Encoded: s))) }

    // MARK: Python's bytes

    func testCanonicalJSONAndContentHashEqualPythons() throws {
        let cases = [("version 1 (description and training hashed)", ManifestFixtures.v1Manifest,
                      ManifestFixtures.v1Canonical, ManifestFixtures.v1Hash),
                     ("version 2 (residual networks; description and training not hashed)", ManifestFixtures.v2Manifest,
                      ManifestFixtures.v2Canonical, ManifestFixtures.v2Hash)]
        for (what, text, canonical, hash) in cases {
            let m = try PackageManifest.parse(try b64(text))
            XCTAssertEqual(String(decoding: m.canonicalJSON(), as: UTF8.self),
                           String(decoding: try b64(canonical), as: UTF8.self), what)
            XCTAssertEqual(m.computeContentHash(), hash, what)
            XCTAssertEqual(m.contentHash, hash, what)
            // What this port writes reads back to the same manifest and hash.
            let again = try PackageManifest.parse(m.jsonWithContentHash())
            XCTAssertEqual(again.computeContentHash(), hash, what)
        }
        let v2 = try PackageManifest.parse(try b64(ManifestFixtures.v2Manifest))
        XCTAssertTrue(v2.hasResidual)
        XCTAssertEqual(v2.resZTableIndex, [1, 0])
        XCTAssertEqual(v2.residualLatentChannels, 4)
        let v1 = try PackageManifest.parse(try b64(ManifestFixtures.v1Manifest))
        XCTAssertFalse(v1.hasResidual)
        XCTAssertNil(v1.resLatentChannels, "null: left out of the hash")
        XCTAssertEqual(v1.levels.map(\.exp), [0, 1], "1.0 for an integer field is the integer 1")
    }

    func testFloatsAreWrittenAsPythonsRepr() throws {
        XCTAssertGreaterThan(ManifestFixtures.doubleReprs.count, 500)
        for (bits, repr) in ManifestFixtures.doubleReprs {
            let x = Double(bitPattern: bits)
            XCTAssertEqual(ExactJSON.pythonRepr(x), repr, "bits \(String(bits, radix: 16))")
            // Python's repr is JSON this reader takes back to the same double.
            guard case .float(let y) = try ExactJSON.parse(Array(repr.utf8)) else {
                XCTFail("\(repr) did not parse as a float"); continue
            }
            XCTAssertEqual(y.bitPattern, x.bitPattern, repr)
        }
    }

    func testJSONReaderKeepsIntegersFloatsAndStringsExact() throws {
        let v = try ExactJSON.parse(Array(#"{"b":[1,1.0,-0,1e2,12345678901234567890123],"a":"\u00e9\ud83d\ude00\/\u007f","e\u0301":null,"\u00e9":true}"#.utf8))
        XCTAssertEqual(String(decoding: v.canonicalBytes(), as: UTF8.self),
                       #"{"a":"\u00e9\ud83d\ude00/\u007f","b":[1,1.0,0,100.0,12345678901234567890123],"e\u0301":null,"\u00e9":true}"#)
        let bad: [(String, String)] = [
            ("", "empty"), ("{", "unterminated"), (#"{"a":1,"a":2}"#, "duplicate key"), ("[1,]", "trailing comma"),
            ("NaN", "NaN"), ("[Infinity]", "Infinity"), ("1e400", "overflow"), ("01", "leading zero"), ("[.5]", "no digit"),
            (#""\ud800""#, "lone surrogate"), (#""\udc00x""#, "lone low surrogate"), ("\"a\u{1}\"", "raw control"),
            (#""\x""#, "bad escape"), ("{} x", "trailing data"), ("tru", "bad literal"),
            (String(repeating: "[", count: 600) + String(repeating: "]", count: 600), "too deep"),
        ]
        for (text, what) in bad {
            XCTAssertThrowsError(try ExactJSON.parse(Array(text.utf8)), what)
        }
        XCTAssertThrowsError(try ExactJSON.parse([0x22, 0xC3, 0x28, 0x22]), "invalid UTF-8")
    }

    // MARK: The bundled package

    func testBundledPackageVerifies() throws {
        let m = try Golden.manifest()
        XCTAssertEqual(m.computeContentHash(), m.contentHash)
        let p = try Golden.package()
        XCTAssertEqual(p.contentHash, m.contentHash)
        XCTAssertEqual(p.modelHash, m.streamHash)
        XCTAssertEqual(p.modelID, m.modelID)
        // The hash the conformance vectors name (every vector stream's header).
        let vectors = try Golden.vectors()
        XCTAssertFalse(vectors.vectors.isEmpty)
        for v in vectors.vectors {
            let bytes = [UInt8](try Data(contentsOf: Golden.vectorsDir.appendingPathComponent(v.stream)))
            let header = try StreamHeader.parse(bytes)
            XCTAssertEqual(header.modelID, m.modelID, v.name)
            XCTAssertEqual(Hex.encode(header.modelHash), String(m.contentHash.prefix(32)), v.name)
        }
        // And the golden streams'.
        for s in try Golden.streams() {
            XCTAssertEqual(try StreamHeader.parse(Golden.bytes(s.stream)).modelHash, p.modelHash, s.name)
        }
    }

    // MARK: Tampering

    /// A package directory with the golden files, `manifest` as manifest.json (default: the golden
    /// one) and package.json after `edit`.
    private func package(manifest: [UInt8]? = nil, _ edit: ((inout [String: Any]) -> Void)? = nil) throws -> URL {
        let dir = tmp.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let src = try Golden.packageDir()
        for f in ["manifest.json", "package.json", "tables.radius.i32", "tables.cdf.u32"] {
            try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: dir.appendingPathComponent(f))
        }
        if let m = manifest { try Data(m).write(to: dir.appendingPathComponent("manifest.json")) }
        if let edit = edit {
            var json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Golden.data("package.json")) as? [String: Any])
            edit(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("package.json"))
        }
        return dir
    }

    /// The model error from `ModelPackage.load` and from a decoder given the directory.
    private func assertRefused(_ dir: URL, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        assertThrowsKind("model", what, file: file, line: line) { try ModelPackage.load(directory: dir) }
        let s = try XCTUnwrap(try Golden.streams().first)
        assertThrowsKind("model", "\(what) (decoder)", file: file, line: line) {
            try Decoder(data: Golden.data(s.stream), options: try DecoderOptions(packageDirectory: dir),
                        network: GoldenNetworkRunner(frames: []))
        }
    }

    private func replacing(_ text: String, _ old: String, _ new: String) throws -> [UInt8] {
        XCTAssertTrue(text.contains(old), old)
        return Array(text.replacingOccurrences(of: old, with: new).utf8)
    }

    func testTamperedManifestIsAModelError() throws {
        let text = String(decoding: try Data(contentsOf: Golden.manifestURL), as: UTF8.self)
        let m = try Golden.manifest()
        XCTAssertNoThrow(try ModelPackage.load(directory: try package()))
        let tables = "\"sha256\": \"\(m.tables.sha256)\""
        let tampered: [(String, [UInt8])] = [
            ("y_exp", try replacing(text, "\"y_exp\": \(m.yExp)", "\"y_exp\": \(m.yExp + 1)")),
            ("model_id", try replacing(text, "\"model_id\": \"\(m.modelID)\"", "\"model_id\": \"\(m.modelID)x\"")),
            ("tables.sha256", try replacing(text, tables, tables.replacingOccurrences(of: "\"" + m.tables.sha256.prefix(1),
                                                                                     with: m.tables.sha256.hasPrefix("0") ? "\"1" : "\"0"))),
            ("macs_per_pixel", try replacing(text, "\"macs_per_pixel\": ", "\"macs_per_pixel\": 1")),
            ("content_hash", try replacing(text, m.contentHash, String(m.contentHash.reversed()))),
            ("content_hash removed", try replacing(text, "\"content_hash\": \"\(m.contentHash)\"", "\"content_hash\": \"\"")),
            ("unknown key", try replacing(text, "\"y_exp\":", "\"extra\": 1, \"y_exp\":")),
            ("duplicate key", try replacing(text, "\"y_exp\":", "\"y_exp\": \(m.yExp), \"y_exp\":")),
            ("integer as a string", try replacing(text, "\"y_exp\": \(m.yExp)", "\"y_exp\": \"\(m.yExp)\"")),
            ("integer with a fraction", try replacing(text, "\"y_exp\": \(m.yExp)", "\"y_exp\": \(m.yExp).5")),
            ("format version 3", try replacing(text, "\"format_version\": \(m.formatVersion)", "\"format_version\": 3")),
            ("not a package", try replacing(text, "\"mlvc-model-package\"", "\"mlvc-model\"")),
            ("truncated", Array(text.utf8.prefix(text.utf8.count / 2))),
            ("not UTF-8", Array(text.utf8) + [0xFF]),
            ("not JSON", Array("manifest".utf8)),
        ]
        for (what, bytes) in tampered {
            assertThrowsKind("model", what) { try PackageManifest.parse(bytes) }
            try assertRefused(try package(manifest: bytes), "tampered manifest: \(what)")
        }
        // Not part of the identity (format version >= 2): description and training.
        if m.formatVersion >= 2 {
            let redoc = try replacing(text, "\"description\": \"", "\"description\": \"re-documented \\u00e9 ")
            XCTAssertEqual(try PackageManifest.parse(redoc).contentHash, m.contentHash)
            XCTAssertNoThrow(try ModelPackage.load(directory: try package(manifest: redoc)))
        }
        // Every prefix of the manifest: a model error, never a trap.
        let raw = Array(text.utf8)
        for n in stride(from: 0, to: raw.count, by: max(1, raw.count / 300)) {
            assertThrowsKind("model", "prefix \(n)") { try PackageManifest.parse(Array(raw[0..<n])) }
        }
    }

    func testManifestNumbersAreReadAsPythonReadsThem() throws {
        // macs_per_pixel is a float field: 11732 and 11732.0 are the same value and hash (Python's
        // model_dump gives 11732.0 for both); an integer field given as 2.0 is the integer 2.
        let text = String(decoding: try Data(contentsOf: Golden.manifestURL), as: UTF8.self)
        let m = try Golden.manifest()
        let macs = try XCTUnwrap(m.networks["g_a"]?.macsPerPixel)
        XCTAssertEqual(macs.rounded(), macs)
        let asInt = try replacing(text, "\"macs_per_pixel\": \(ExactJSON.pythonRepr(macs))", "\"macs_per_pixel\": \(Int(macs))")
        XCTAssertEqual(try PackageManifest.parse(asInt).contentHash, m.contentHash)
        let asFloat = try replacing(text, "\"y_exp\": \(m.yExp)", "\"y_exp\": \(m.yExp).0")
        XCTAssertEqual(try PackageManifest.parse(asFloat).contentHash, m.contentHash)
    }

    func testPackageJSONMustAgreeWithTheManifest() throws {
        let edits: [(String, (inout [String: Any]) -> Void)] = [
            ("model_hash", { $0["model_hash"] = String(repeating: "0", count: 32) }),
            ("model_id", { $0["model_id"] = "other-model" }),
            ("y_exp", { $0["y_exp"] = ($0["y_exp"] as! Int) + 1 }),
            ("levels", { $0["levels"] = [["level": 1, "exp": 0]] }),
            ("max_width", { $0["max_width"] = 1920 }),
            ("z_table_index", { $0["z_table_index"] = ($0["z_table_index"] as! [Int]).map { _ in 1 } }),
            ("tables_sha256 (tables as given)", { $0["tables_sha256"] = String(repeating: "0", count: 64) }),
        ]
        for (what, edit) in edits {
            try assertRefused(try package(edit), "package.json: \(what)")
        }
    }

    func testTamperedOrMissingFileIsAModelError() throws {
        for f in ["tables.radius.i32", "tables.cdf.u32"] {
            let dir = try package()
            var bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent(f)))
            bytes[bytes.count / 2] ^= 0x10
            try Data(bytes).write(to: dir.appendingPathComponent(f))
            try assertRefused(dir, "tampered \(f)")
        }
        for f in ["manifest.json", "package.json", "tables.radius.i32", "tables.cdf.u32"] {
            let dir = try package()
            try FileManager.default.removeItem(at: dir.appendingPathComponent(f))
            try assertRefused(dir, "missing \(f)")
        }
        // The same tables under another manifest: refused (tables.sha256 differs), even with
        // package.json's hash, id and tables_sha256 made to match that manifest.
        var other = try Golden.manifest()
        other.tables.sha256 = String(repeating: "ab", count: 32)
        let hash = other.computeContentHash()
        try assertRefused(try package(manifest: other.jsonWithContentHash()) {
            $0["model_hash"] = String(hash.prefix(32)); $0["tables_sha256"] = other.tables.sha256
        }, "tables of another manifest")
    }
}
