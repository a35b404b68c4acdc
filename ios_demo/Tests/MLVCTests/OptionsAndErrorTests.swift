import Foundation
import XCTest
@testable import MLVC

final class OptionsAndErrorTests: XCTestCase {
    func testDefaults() throws {
        let d = DecoderOptions.defaults
        XCTAssertNil(d.packageDirectory)
        XCTAssertTrue(d.verifyHashes)
        XCTAssertEqual(d.maxPixels, 3840 * 2160)
        XCTAssertEqual(try DecoderOptions(), d)
    }

    func testValidation() throws {
        assertThrowsKind("invalid_argument", "maxPixels 0") { try DecoderOptions(maxPixels: 0) }
        assertThrowsKind("invalid_argument", "maxPixels < 0") { try DecoderOptions(maxPixels: -5) }
        assertThrowsKind("invalid_argument", "non-file URL") {
            try DecoderOptions(packageDirectory: URL(string: "https://example.com/model")!)
        }
        let o = try DecoderOptions(packageDirectory: URL(fileURLWithPath: "/tmp/pkg"), verifyHashes: false, maxPixels: 1)
        XCTAssertFalse(o.verifyHashes)
        XCTAssertEqual(o.maxPixels, 1)
    }

    func testMissingPackageDirectoryIsAModelError() throws {
        let s = try XCTUnwrap(try Golden.streams().first)
        assertThrowsKind("model", "missing package") {
            try Decoder(data: Golden.data(s.stream),
                        options: try DecoderOptions(packageDirectory: URL(fileURLWithPath: "/nonexistent/mlvc-pkg")),
                        network: GoldenNetworkRunner(frames: []))
        }
    }

    func testErrorCodesAndExitStatusesMirrorPython() {
        let all: [(MLVCError, String, Int32)] = [
            (.invalidArgument("x"), "invalid_argument", 2), (.unsupported("x"), "unsupported", 3),
            (.corruptStream("x"), "corrupt_stream", 4), (.model("x"), "model", 5),
            (.hashMismatch("x"), "hash_mismatch", 6), (.backend("x"), "backend", 7)]
        for (e, code, status) in all {
            XCTAssertEqual(e.code, code)
            XCTAssertEqual(e.exitStatus, status)
            XCTAssertEqual(e.message, "x")
            XCTAssertEqual(e.description, "\(code): x")
        }
    }

    func testPackageValidation() throws {
        let p = try Golden.package()
        func make(modelID: String = "ok", hash: [UInt8]? = nil, levels: [Int: Int]? = nil, align: Int? = nil,
                  zIndex: [Int32]? = nil, resZIndex: [Int32]? = nil) throws -> ModelPackage {
            try ModelPackage(modelID: modelID, modelHash: hash ?? p.modelHash, levels: levels ?? p.levels,
                             yExp: p.yExp, alignment: align ?? p.alignment, latentChannels: p.latentChannels,
                             hyperChannels: p.hyperChannels, tablesPerOctave: p.tablesPerOctave,
                             zTableIndex: zIndex ?? p.zTableIndex, residualZTableIndex: resZIndex,
                             maxWidth: p.maxWidth, maxHeight: p.maxHeight, tables: p.tables)
        }
        XCTAssertNoThrow(try make())
        assertThrowsKind("model", "bad id") { try make(modelID: "bad id!") }
        assertThrowsKind("model", "long id") { try make(modelID: String(repeating: "a", count: 17)) }
        assertThrowsKind("model", "short hash") { try make(hash: [1, 2, 3]) }
        assertThrowsKind("model", "no levels") { try make(levels: [:]) }
        assertThrowsKind("model", "exp below y_exp") { try make(levels: [1: p.yExp - 1]) }
        assertThrowsKind("model", "alignment") { try make(align: 32) }
        assertThrowsKind("model", "z index count") { try make(zIndex: Array(p.zTableIndex.dropLast())) }
        assertThrowsKind("model", "z index range") {
            try make(zIndex: p.zTableIndex.map { _ in Int32(p.tables.numTables) })
        }
        XCTAssertFalse(try make().hasResidualNetworks)
        XCTAssertTrue(try make(resZIndex: p.zTableIndex).hasResidualNetworks)
        assertThrowsKind("model", "res z index count") { try make(resZIndex: Array(p.zTableIndex.dropLast())) }
        assertThrowsKind("model", "res z index range") {
            try make(resZIndex: p.zTableIndex.map { _ in Int32(p.tables.numTables) })
        }
        assertThrowsKind("model", "res z index negative") { try make(resZIndex: p.zTableIndex.map { _ in -1 }) }
    }

    func testCdfTableValidation() {
        XCTAssertNoThrow(try CdfTables(radius: [1], cdf: [0, 100, 65000, 65536]))
        assertThrowsKind("model", "no tables") { try CdfTables(radius: [], cdf: []) }
        assertThrowsKind("model", "radius 0") { try CdfTables(radius: [0], cdf: [0, 65536]) }
        assertThrowsKind("model", "short") { try CdfTables(radius: [1], cdf: [0, 100, 65536]) }
        assertThrowsKind("model", "not increasing") { try CdfTables(radius: [1], cdf: [0, 100, 100, 65536]) }
        assertThrowsKind("model", "bad total") { try CdfTables(radius: [1], cdf: [0, 100, 200, 65535]) }
        assertThrowsKind("model", "extra") { try CdfTables(radius: [1], cdf: [0, 100, 200, 65536, 0]) }
    }
}
