/// The one error type of the SDK. Cases and `code` strings mirror the Python SDK's error classes
/// (`mlvc/errors.py`) and the table in docs/bitstream.md §8.
public enum MLVCError: Error, Equatable, CustomStringConvertible {
    /// A caller passed an option or input the SDK does not accept (`InvalidArgumentError`).
    case invalidArgument(String)
    /// Valid input that this build cannot handle: format version, colour format, P frames, size.
    case unsupported(String)
    /// The bitstream is truncated or inconsistent: magic, CRC, lengths, rANS end checks.
    case corruptStream(String)
    /// A model package is missing, malformed, or not the one the stream needs.
    case model(String)
    /// A decoded picture's MD5 differs from the stream's (exact backend, verification on).
    case hashMismatch(String)
    /// A backend is not available or failed to run a network.
    case backend(String)

    /// The Python SDK's `code` for this kind ("corrupt_stream", ...).
    public var code: String {
        switch self {
        case .invalidArgument: return "invalid_argument"
        case .unsupported: return "unsupported"
        case .corruptStream: return "corrupt_stream"
        case .model: return "model"
        case .hashMismatch: return "hash_mismatch"
        case .backend: return "backend"
        }
    }

    /// The Python CLI's exit status for this kind.
    public var exitStatus: Int32 {
        switch self {
        case .invalidArgument: return 2
        case .unsupported: return 3
        case .corruptStream: return 4
        case .model: return 5
        case .hashMismatch: return 6
        case .backend: return 7
        }
    }

    public var message: String {
        switch self {
        case .invalidArgument(let m), .unsupported(let m), .corruptStream(let m), .model(let m),
             .hashMismatch(let m), .backend(let m):
            return m
        }
    }

    public var description: String { "\(code): \(message)" }
}
