package ai.mlvc

/**
 * The error kinds of docs/bitstream.md §8. [code] and [exitStatus] equal the Python SDK's
 * (`sdk/mlvc/errors.py`), so conformance lists such as `invalid/index.json` map one to one.
 */
enum class ErrorKind(val code: String, val exitStatus: Int) {
    INVALID_ARGUMENT("invalid_argument", 2),
    UNSUPPORTED("unsupported", 3),
    CORRUPT_STREAM("corrupt_stream", 4),
    MODEL("model", 5),
    HASH_MISMATCH("hash_mismatch", 6),
    BACKEND("backend", 7);

    companion object {
        /** The kind with Python code [code] (`corrupt_stream`, `model`, ...). */
        fun fromCode(code: String): ErrorKind =
            entries.firstOrNull { it.code == code }
                ?: throw IllegalArgumentException("unknown MLVC error code '$code'")
    }
}

/** The one exception type the SDK throws on purpose; [kind] says which error it is. */
class MlvcException(val kind: ErrorKind, message: String, cause: Throwable? = null) :
    RuntimeException("${kind.code}: $message", cause)

internal fun corrupt(message: String): Nothing = throw MlvcException(ErrorKind.CORRUPT_STREAM, message)
internal fun unsupported(message: String): Nothing = throw MlvcException(ErrorKind.UNSUPPORTED, message)
internal fun modelError(message: String): Nothing = throw MlvcException(ErrorKind.MODEL, message)
internal fun invalidArgument(message: String): Nothing =
    throw MlvcException(ErrorKind.INVALID_ARGUMENT, message)
