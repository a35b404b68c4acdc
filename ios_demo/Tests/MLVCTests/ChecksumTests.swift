import XCTest
@testable import MLVC

/// Known-answer tests: MD5 (RFC 1321 appendix A.5), CRC-32 (zlib), SHA-256 (FIPS 180-2 examples).
final class ChecksumTests: XCTestCase {
    func md5(_ s: String) -> String { Hex.encode(MD5.hash(Array(s.utf8))) }

    func testMD5RFC1321Vectors() {
        XCTAssertEqual(md5(""), "d41d8cd98f00b204e9800998ecf8427e")
        XCTAssertEqual(md5("a"), "0cc175b9c0f1b6a831c399e269772661")
        XCTAssertEqual(md5("abc"), "900150983cd24fb0d6963f7d28e17f72")
        XCTAssertEqual(md5("message digest"), "f96b697d7cb7938d525a2f31aaf161d0")
        XCTAssertEqual(md5("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b")
        XCTAssertEqual(md5("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
                       "d174ab98d277d9f5a5611c2c9f419d9f")
        XCTAssertEqual(md5(String(repeating: "1234567890", count: 8)), "57edf4a22be3c955ac49da2e2107b67a")
        XCTAssertEqual(md5("The quick brown fox jumps over the lazy dog"), "9e107d9d372bb6826bd81d3542a419d6")
    }

    func testMD5OfAMillionAAndPaddingBoundaries() {
        XCTAssertEqual(Hex.encode(MD5.hash([UInt8](repeating: 0x61, count: 1_000_000))),
                       "7707d6ae4e027c70eea2a935c2296f21")
        // Incremental updates in odd pieces agree with one-shot hashing at every length near a block.
        for n in [55, 56, 57, 63, 64, 65, 119, 120, 128, 1000] {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var m = MD5()
            var i = 0
            var step = 1
            while i < n { let j = min(n, i + step); m.update(Array(bytes[i..<j])); i = j; step = step % 13 + 3 }
            XCTAssertEqual(m.finalize(), MD5.hash(bytes), "length \(n)")
            var g = MD5()
            g.update(bytes[0..<n])   // generic Collection path
            XCTAssertEqual(g.finalize(), MD5.hash(bytes), "generic, length \(n)")
        }
    }

    func testCRC32MatchesZlib() {
        XCTAssertEqual(CRC32.checksum([UInt8]()), 0)
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)), 0x414F_A339)
        XCTAssertEqual(CRC32.checksum([UInt8](repeating: 0, count: 32)), 0x190A_55AD)
        // Chaining, as zlib.crc32(b, zlib.crc32(a)).
        let a = Array("12345".utf8), b = Array("6789".utf8)
        XCTAssertEqual(CRC32.update(CRC32.checksum(a), b), 0xCBF4_3926)
    }

    func testGoldenStreamHeadersCarryValidCRCs() throws {
        for s in try Golden.streams() {
            let b = try Golden.bytes(s.stream)
            XCTAssertEqual(CRC32.checksum(b[0..<60]), readU32(b, 60), s.name)
        }
    }

    func testSHA256Vectors() {
        func sha(_ s: String) -> String { Hex.encode(SHA256.hash(Array(s.utf8))) }
        XCTAssertEqual(sha(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(sha("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(Hex.encode(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000))),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testHex() {
        XCTAssertEqual(Hex.encode([0x00, 0xAB, 0xFF]), "00abff")
        XCTAssertEqual(Hex.decode("00abFF"), [0x00, 0xAB, 0xFF])
        XCTAssertNil(Hex.decode("abc"))
        XCTAssertNil(Hex.decode("zz"))
    }
}
