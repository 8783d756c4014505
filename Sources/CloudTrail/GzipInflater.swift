import CZlib

/// Streaming gzip inflation for files of any size (`scan`, `replay`): input in, output in chunks,
/// memory bounded by one chunk. Concatenated members are one stream, as `gzip -d` reads them.
/// Records from Kafka use `Gzip.inflate` instead, which bounds the whole output.
public final class GzipInflater {
    /// On the heap: zlib keeps a pointer back to its `z_stream` and checks it on every call.
    private let stream: UnsafeMutablePointer<z_stream>
    private var memberEnded = false
    private var fedAnything = false
    private let chunk: UnsafeMutableRawBufferPointer

    public init() throws(CloudTrailDecodingError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        chunk = .allocate(byteCount: 256 << 10, alignment: 16)
        // 15 + 16: a gzip wrapper only, with the largest window.
        guard tokentrail_inflateInit2(stream, 15 + 16) == Z_OK else {
            stream.deallocate()
            chunk.deallocate()
            throw CloudTrailDecodingError(reason: .badGzip)
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        chunk.deallocate()
    }

    /// Inflates `input`, handing each piece of output to `output` (valid during the call only).
    public func feed<E: Error>(
        _ input: UnsafeRawBufferPointer, _ output: (UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(GzipStreamError<E>) {
        guard let base = input.baseAddress, !input.isEmpty else { return }
        fedAnything = true
        var consumed = 0
        while true {
            if memberEnded {
                guard consumed < input.count else { return }
                // Another member follows: zlib checks its header.
                guard inflateReset(stream) == Z_OK else { throw .corrupt }
                memberEnded = false
            }
            let available = min(input.count - consumed, Int(UInt32.max))
            stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self) + consumed)
            stream.pointee.avail_in = UInt32(available)
            stream.pointee.next_out = chunk.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = UInt32(chunk.count)
            let status = CZlib.inflate(stream, Z_NO_FLUSH)
            consumed += available - Int(stream.pointee.avail_in)
            let produced = chunk.count - Int(stream.pointee.avail_out)
            if produced > 0 {
                do throws(E) { try output(UnsafeRawBufferPointer(rebasing: chunk[..<produced])) } catch { throw .consumer(error) }
            }
            switch status {
            case Z_STREAM_END: memberEnded = true
            case Z_OK, Z_BUF_ERROR:
                // A full output chunk may leave more output inside zlib: call again until it has none.
                if consumed == input.count, produced < chunk.count { return }
                if produced == 0, available - Int(stream.pointee.avail_in) == 0 { throw .corrupt }
            default: throw .corrupt
            }
        }
    }

    /// The input ended: an error if it ended inside a member (a truncated file).
    public func finish() throws(GzipStreamError<Never>) {
        guard memberEnded || !fedAnything else { throw .corrupt }
    }
}

/// Why `GzipInflater.feed` stopped: the data, or the consumer of its output.
public enum GzipStreamError<Consumer: Error>: Error {
    /// Not gzip, corrupt or truncated.
    case corrupt
    case consumer(Consumer)
}
