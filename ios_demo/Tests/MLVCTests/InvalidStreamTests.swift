import Foundation
import XCTest
@testable import MLVC

/// Package, size and truncation checks. The hostile streams are `HostileCatalogueTests` (the one
/// catalogue the Python and Kotlin suites run too).
final class InvalidStreamTests: XCTestCase {
    func testMaxPixelsOptionRefusesLargerPictures() throws {
        let package = try Golden.package()
        let s = try XCTUnwrap(try Golden.streams().first)
        let runner = GoldenNetworkRunner(frames: [])
        assertThrowsKind("unsupported", "maxPixels") {
            try Decoder(data: Golden.data(s.stream), options: try DecoderOptions(maxPixels: s.width * s.height - 1),
                        package: package, network: runner)
        }
        XCTAssertNoThrow(try Decoder(data: Golden.data(s.stream),
                                     options: try DecoderOptions(maxPixels: s.width * s.height),
                                     package: package, network: runner))
    }

    func testModelIDMismatchIsAModelError() throws {
        let p = try Golden.package()
        let other = try ModelPackage(modelID: "other-model", modelHash: p.modelHash, levels: p.levels, yExp: p.yExp,
                                     alignment: p.alignment, latentChannels: p.latentChannels,
                                     hyperChannels: p.hyperChannels, tablesPerOctave: p.tablesPerOctave,
                                     zTableIndex: p.zTableIndex, maxWidth: p.maxWidth, maxHeight: p.maxHeight,
                                     tables: p.tables)
        let s = try XCTUnwrap(try Golden.streams().first)
        assertThrowsKind("model", "model id") {
            try Decoder(data: Golden.data(s.stream), package: other, network: GoldenNetworkRunner(frames: []))
        }
    }

    func testMissingOrTamperedPackageIsAModelError() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("mlvc-pkg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        assertThrowsKind("model", "empty dir") { try ModelPackage.load(directory: tmp) }
        for f in ["manifest.json", "package.json", "tables.radius.i32", "tables.cdf.u32"] {
            try FileManager.default.copyItem(at: try Golden.packageDir().appendingPathComponent(f), to: tmp.appendingPathComponent(f))
        }
        XCTAssertNoThrow(try ModelPackage.load(directory: tmp))
        var cdf = try Golden.bytes("tables.cdf.u32")
        cdf[5] ^= 1
        try Data(cdf).write(to: tmp.appendingPathComponent("tables.cdf.u32"))
        assertThrowsKind("model", "tampered tables") { try ModelPackage.load(directory: tmp) }
        let s = try XCTUnwrap(try Golden.streams().first)
        assertThrowsKind("model", "decoder with tampered package") {
            try Decoder(data: Golden.data(s.stream), options: try DecoderOptions(packageDirectory: tmp),
                        network: GoldenNetworkRunner(frames: []))
        }
    }

    func testEveryTruncationOfAGoldenStreamFailsCleanly() throws {
        // Not a crash, and always an MLVCError: each prefix of a valid stream.
        let package = try Golden.package()
        let s = try XCTUnwrap(try Golden.streams().first)
        let frames = try Golden.frames(of: s, alignment: package.alignment)
        let bytes = try Golden.bytes(s.stream)
        for n in stride(from: 0, to: bytes.count, by: 7) {
            do {
                _ = try Decoder(data: Data(bytes[0..<n]), package: package,
                                network: LookupNetworkRunner(frames: frames)).decodeAll()
                XCTFail("prefix \(n) decoded")
            } catch let e as MLVCError {
                XCTAssertEqual(e.code, "corrupt_stream", "prefix \(n): \(e)")
            }
        }
    }
}
