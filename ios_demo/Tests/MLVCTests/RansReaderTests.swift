import Foundation
import XCTest
@testable import MLVC

/// `RansReader` (the incremental, bounds-checked rANS reader of syntax whose symbols depend on
/// earlier ones) agrees with `Rans.decode` on valid substreams, and every damaged one is
/// `corruptStream`, never a trap.
final class RansReaderTests: XCTestCase {
    private func tables() throws -> CdfTables { try Golden.package().tables }

    func testReaderMatchesBatchDecodeOnRandomSubstreams() throws {
        let cdf = try tables()
        var rng = SplitMix64(seed: 0x5241_4E53)
        for trial in 0..<60 {
            let n = [1, 2, 3, 17, 300, 2500][trial % 6]
            let t = (0..<n).map { _ in Int32.random(in: 0..<Int32(cdf.numTables), using: &rng) }
            let k = t.map { Int32.random(in: 0...(2 * cdf.radius[Int($0)]), using: &rng) }
            let lanes = min(n, [1, 2, 7, 256][trial % 4])
            let sub = ransEncode(k, tables: t, cdf: cdf, lanes: lanes)
            XCTAssertEqual(try Rans.decode(sub[...], tables: t, cdf: cdf), k)
            var r = try RansReader(sub[...], cdf: cdf)
            let got = try t.map { Int32(try r.next(table: Int($0))) }
            XCTAssertEqual(got, k, "trial \(trial)")
            XCTAssertNoThrow(try r.finish())
            XCTAssertEqual(r.count, n)
        }
    }

    func testEmptySubstreamAndItsChecks() throws {
        let cdf = try tables()
        let empty: [UInt8] = [0, 0, 0, 0, 0, 0]
        let r = try RansReader(empty[...], cdf: cdf)
        XCTAssertNoThrow(try r.finish())
        var r2 = try RansReader(empty[...], cdf: cdf)
        assertThrowsKind("corrupt_stream", "symbol from no lanes") { try r2.next(table: 0) }
        assertThrowsKind("corrupt_stream", "words without lanes") { try RansReader([0, 0, 1, 0, 0, 0, 0, 0][...], cdf: cdf) }
    }

    func testDamagedSubstreamsAreCorruptNeverATrap() throws {
        let cdf = try tables()
        var rng = SplitMix64(seed: 0x4441_4D47)
        let n = 400
        let t = (0..<n).map { _ in Int32.random(in: 0..<Int32(cdf.numTables), using: &rng) }
        let k = t.map { Int32.random(in: 0...(2 * cdf.radius[Int($0)]), using: &rng) }
        let good = ransEncode(k, tables: t, cdf: cdf, lanes: 3)
        func read(_ b: [UInt8], count: Int = n, maxSymbols: Int = .max) throws {
            var r = try RansReader(b[...], cdf: cdf, maxSymbols: maxSymbols)
            for i in 0..<count { _ = try r.next(table: Int(t[i % n])) }
            try r.finish()
        }
        XCTAssertNoThrow(try read(good))
        assertThrowsKind("corrupt_stream", "too few symbols read") { try read(good, count: n - 1) }
        assertThrowsKind("corrupt_stream", "above maxSymbols") { try read(good, maxSymbols: n - 1) }
        assertThrowsKind("corrupt_stream", "truncated") { try read(Array(good.dropLast())) }
        assertThrowsKind("corrupt_stream", "trailing byte") { try read(good + [0]) }
        assertThrowsKind("corrupt_stream", "header cut") { try read(Array(good.prefix(5))) }
        var zero = good
        for i in 6..<10 { zero[i] = 0 }
        assertThrowsKind("corrupt_stream", "state 0") { try read(zero) }
        var bad = 0
        for trial in 0..<300 {
            var b = good
            let pos = Int.random(in: 0..<b.count, using: &rng)
            b[pos] ^= UInt8.random(in: 1...255, using: &rng)
            do { try read(b) } catch let e as MLVCError {
                XCTAssertEqual(e.code, "corrupt_stream", "trial \(trial)"); bad += 1
            }
        }
        XCTAssertGreaterThan(bad, 100)
        var r = try RansReader(good[...], cdf: cdf)
        assertThrowsKind("corrupt_stream", "table out of range") { try r.next(table: cdf.numTables) }
        assertThrowsKind("corrupt_stream", "negative table") { try r.next(table: -1) }
    }
}
