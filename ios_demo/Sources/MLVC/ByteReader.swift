/// Little-endian reads from a byte array; callers check bounds before reading.
@inline(__always) func readU16(_ b: [UInt8], _ o: Int) -> UInt16 {
    UInt16(b[o]) | UInt16(b[o + 1]) << 8
}

@inline(__always) func readU32(_ b: [UInt8], _ o: Int) -> UInt32 {
    UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
}

@inline(__always) func readU16(_ b: ArraySlice<UInt8>, _ o: Int) -> UInt16 {
    let s = b.startIndex + o
    return UInt16(b[s]) | UInt16(b[s + 1]) << 8
}

@inline(__always) func readU32(_ b: ArraySlice<UInt8>, _ o: Int) -> UInt32 {
    let s = b.startIndex + o
    return UInt32(b[s]) | UInt32(b[s + 1]) << 8 | UInt32(b[s + 2]) << 16 | UInt32(b[s + 3]) << 24
}
