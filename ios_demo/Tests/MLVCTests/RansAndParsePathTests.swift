import XCTest
@testable import MLVC

/// rANS against a test-only encoder written from docs/bitstream.md §5, plus the substream checks
/// and the parse-path integer helpers.
final class RansAndParsePathTests: XCTestCase {
    /// The spec's encoder (`ransEncode`, GoldenSupport.swift).
    func encode(_ k: [Int32], tables t: [Int32], cdf: CdfTables, lanes: Int) -> [UInt8] {
        ransEncode(k, tables: t, cdf: cdf, lanes: lanes)
    }

    func testRoundTripOverGoldenTablesAndLaneCounts() throws {
        let cdf = try Golden.package().tables
        var rng = SystemRandomNumberGenerator()
        for (n, lanes) in [(1, 1), (7, 3), (100, 1), (1000, 17), (5000, 256), (3000, 1024)] {
            let t = (0..<n).map { _ in Int32.random(in: 0..<Int32(cdf.numTables), using: &rng) }
            let k = t.map { Int32.random(in: 0...(2 * cdf.radius[Int($0)]), using: &rng) }
            let bytes = encode(k, tables: t, cdf: cdf, lanes: lanes)
            XCTAssertEqual(try Rans.decode(bytes[...], tables: t, cdf: cdf), k, "n=\(n) lanes=\(lanes)")
        }
    }

    func testSubstreamChecks() throws {
        let cdf = try Golden.package().tables
        let t: [Int32] = Array(repeating: 0, count: 50)
        let k: [Int32] = (0..<50).map { Int32($0 % 3) }
        let good = encode(k, tables: t, cdf: cdf, lanes: 4)
        XCTAssertEqual(try Rans.decode(good[...], tables: t, cdf: cdf), k)
        func expectCorrupt(_ b: [UInt8], _ tables: [Int32]? = nil, _ what: String) {
            assertThrowsKind("corrupt_stream", what) { try Rans.decode(b[...], tables: tables ?? t, cdf: cdf) }
        }
        expectCorrupt(Array(good.prefix(5)), nil, "header truncated")
        expectCorrupt(Array(good.dropLast()), nil, "truncated")
        expectCorrupt(good + [0, 0], nil, "trailing bytes")
        expectCorrupt(good, Array(t.prefix(49)), "fewer symbols than coded: end state")
        expectCorrupt([0, 0, 0, 0, 0, 0], nil, "zero lanes for symbols")
        XCTAssertEqual(try Rans.decode([0, 0, 0, 0, 0, 0][...], tables: [], cdf: cdf), [])
        expectCorrupt([1, 0, 0, 0, 0, 0, 0, 0, 1, 0], [], "not empty for zero symbols")
        var lanes = good; lanes[0] = 51; lanes[1] = 0
        expectCorrupt(lanes, nil, "more lanes than symbols")
        var words = good; words[2] = 51; words[3] = 0; words[4] = 0; words[5] = 0
        expectCorrupt(words, nil, "more words than symbols")
        var state = good; state[6] = 0; state[7] = 0; state[8] = 0; state[9] = 0
        expectCorrupt(state, nil, "initial state below 2^16")
        var flip = good; flip[good.count - 1] ^= 0x40
        expectCorrupt(flip, nil, "flipped word")
        // Huge states cannot overflow (UInt64 arithmetic): all-0xFF states and words.
        var huge = good
        for i in 6..<huge.count { huge[i] = 0xFF }
        expectCorrupt(huge, nil, "saturated states")
    }

    func testRoundShiftIsFloorWithTiesUp() {
        XCTAssertEqual(ParsePath.roundShift(5, 0), 5)
        XCTAssertEqual(ParsePath.roundShift(-128, 0), -128)
        XCTAssertEqual(ParsePath.roundShift(3, 1), 2)     // 1.5 -> 2
        XCTAssertEqual(ParsePath.roundShift(-3, 1), -1)   // -1.5 -> -1
        XCTAssertEqual(ParsePath.roundShift(-1, 1), 0)    // -0.5 -> 0
        XCTAssertEqual(ParsePath.roundShift(-2, 2), 0)    // -0.5 -> 0
        XCTAssertEqual(ParsePath.roundShift(-3, 2), -1)   // -0.75 -> -1
        XCTAssertEqual(ParsePath.roundShift(127, 3), 16)
        XCTAssertEqual(ParsePath.roundShift(-128, 3), -16)
        for v in Int32(-128)...127 {
            for d in 1...4 {
                let want = Int32((Double(v) / Double(1 << d) + 0.5).rounded(.down))
                XCTAssertEqual(ParsePath.roundShift(v, d), want, "v=\(v) d=\(d)")
            }
        }
    }

    func testTableIndexAndRebuildClamp() {
        XCTAssertEqual(ParsePath.tableIndex(10, exp: 1, tablesPerOctave: 8, numTables: 80), 2)
        XCTAssertEqual(ParsePath.tableIndex(3, exp: 1, tablesPerOctave: 8, numTables: 80), 0)
        XCTAssertEqual(ParsePath.tableIndex(127, exp: -2, tablesPerOctave: 8, numTables: 80), 79)
        XCTAssertEqual(ParsePath.tableIndex(-128, exp: -2, tablesPerOctave: 8, numTables: 80), 0)
        XCTAssertEqual(ParsePath.rebuild(5, 2), 20)
        XCTAssertEqual(ParsePath.rebuild(40, 2), 127)
        XCTAssertEqual(ParsePath.rebuild(-40, 2), -128)
        XCTAssertEqual(ParsePath.rebuild(-300, 0), -128)
        XCTAssertEqual(ParsePath.rebuild(382, 16), 127)
    }
}
