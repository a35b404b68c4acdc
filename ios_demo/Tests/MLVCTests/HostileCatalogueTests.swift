import Foundation
import XCTest
@testable import MLVC

/// The one hostile-stream catalogue (sdk/mlvc/data/vectors/invalid/catalogue.json, written by
/// sdk/mlvc/conformance/hostile.py and run by the Python and Kotlin suites too): every stream fails
/// with its kind after exactly `frames_before` frames, through `Data` and the streamed path, with
/// the networks answered from the recorded NumPy calls (an unrecorded call fails the case).
final class HostileCatalogueTests: XCTestCase {
    func testEveryCatalogueStreamFailsWithItsKindAfterItsFrames() throws {
        let vectors = try Golden.vectors()
        let package = try Golden.package()
        XCTAssertGreaterThanOrEqual(vectors.hostile.count, 60)
        for c in vectors.hostile {
            let a = Conformance.runHostile(vectors, c, package: package, network: RecordedNetworkRunner(Recorded.calls))
            XCTAssertTrue(a.passed, "\(c.name) (from \(c.base)): \(a.detail)")
            let b = Conformance.runHostile(vectors, c, package: package, network: RecordedNetworkRunner(Recorded.calls),
                                           streamed: true)
            XCTAssertTrue(b.passed, "\(c.name), streamed: \(b.detail)")
            XCTAssertEqual(a.frames, b.frames, c.name)
        }
    }

    func testTheCatalogueCoversEveryPFrameKindAndEveryStreamErrorKind() throws {
        let cases = try Golden.vectors().hostile
        guard cases.contains(where: { $0.name.hasPrefix("p1_") }), cases.contains(where: { $0.name.hasPrefix("p3_") }) else {
            throw goldenMissing("catalogue without whole- and half-pixel P-frame cases")
        }
        // Block-tree frames (§4c): with a residual (mode 5) and prediction only (mode 4), and a
        // vector pushed outside -2048..2047.
        guard cases.contains(where: { $0.name.hasPrefix("p5_") }), cases.contains(where: { $0.name.hasPrefix("p4_") }),
              cases.contains(where: { $0.name == "tree_vector_out_of_range" }) else {
            throw goldenMissing("catalogue without block-tree (mode 4 and 5) P-frame cases")
        }
        XCTAssertEqual(Set(cases.map(\.error)), ["corrupt_stream", "unsupported", "model", "hash_mismatch"])
        XCTAssertEqual(Set(cases.map(\.name)).count, cases.count)
    }
}

/// The official conformance vectors (sdk/mlvc/data/vectors: NAME.mlvc and NAME.md5), as `mlvc
/// conformance` runs them, with the networks answered from the recorded NumPy calls by role and
/// input: the port asks exactly the Python decoder's questions or fails.
final class VectorConformanceTests: XCTestCase {
    func testEveryVectorDecodesToItsMD5s() throws {
        let vectors = try Golden.vectors()
        let package = try Golden.package()
        XCTAssertGreaterThanOrEqual(vectors.vectors.count, 7)
        for v in vectors.vectors {
            let r = Conformance.runVector(vectors, v, package: package, network: RecordedNetworkRunner(Recorded.calls))
            XCTAssertTrue(r.passed, "\(v.name): \(r.detail)")
            XCTAssertEqual(r.frames, v.frames, v.name)
            // Verification on: the decoder's own hash check.
            let frames = try Decoder(data: try vectors.data(v.stream), package: package,
                                     network: RecordedNetworkRunner(Recorded.calls)).decodeAll()
            XCTAssertEqual(frames.map { Hex.encode($0.md5) }, try vectors.md5s(v), v.name)
            XCTAssertTrue(frames.allSatisfy { $0.verified && !$0.recovered }, v.name)
        }
    }

    func testCallsWereRecordedFromTheseVectorsAndCoverEveryMode() throws {
        let vectors = try Golden.vectors()
        XCTAssertEqual(Recorded.all.manifestSHA256, vectors.manifestSHA256,
                       "calls/ recorded from other vectors: regenerate the golden files")
        var modes = Set<UInt8>()
        for v in vectors.vectors {
            let b = [UInt8](try vectors.data(v.stream))
            var o = Container.headerSize
            while o + Container.recordHeaderSize <= b.count {
                let len = Int(readU32(b, o + 4))
                if b[o] == UInt8(ascii: "P") { modes.insert(b[o + Container.recordHeaderSize]) }
                o += Container.recordHeaderSize + len
            }
        }
        guard modes == [0, 1, 2, 3, 4, 5] else {
            throw goldenMissing("vectors with P-frames of modes 0-5, got \(modes.sorted())")
        }
    }

    func testConformanceRunPassesAndADamagedVectorIsReported() throws {
        let vectors = try Golden.vectors()
        let results = Conformance.run(vectors, package: try Golden.package()) { RecordedNetworkRunner(Recorded.calls) }
        XCTAssertEqual(results.count, vectors.vectors.count + vectors.hostile.count)
        XCTAssertEqual(results.filter { !$0.passed }.map(\.description), [])
        let victim = try XCTUnwrap(vectors.vectors.first).stream
        assertThrowsKind("invalid_argument", "damaged vector") {
            try ConformanceVectors { rel in
                var d = try Data(contentsOf: Golden.vectorsDir.appendingPathComponent(rel))
                if rel == victim { d[d.count / 2] ^= 1 }
                return d
            }
        }
    }
}
