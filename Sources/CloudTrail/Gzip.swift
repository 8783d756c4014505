import CZlib

/// gzip inflation with the decoder's limits, so a small record cannot become a large allocation.
enum Gzip {
    /// Whether `bytes` start with the gzip magic number (RFC 1952).
    static func isGzip(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// Inflates every gzip member in `input` (concatenated members are one stream, as `gzip -d` reads them).
    static func inflate(
        _ input: UnsafeRawBufferPointer, limits: CloudTrailDecoder.Limits
    ) -> Result<[UInt8], CloudTrailDecodingError> {
        guard let inputBase = input.baseAddress else { return .failure(.init(reason: .badGzip)) }
        var stream = z_stream()
        // 15 + 16: a gzip wrapper only, with the largest window.
        guard tokentrail_inflateInit2(&stream, 15 + 16) == Z_OK else { return .failure(.init(reason: .badGzip)) }
        defer { inflateEnd(&stream) }
        // The ratio bound applies beyond 1 MiB of output: small events compress poorly anyway.
        let ratioLimit = max(1 << 20, input.count.multipliedReportingOverflow(by: limits.maxCompressionRatio).overflow
            ? Int.max : input.count * limits.maxCompressionRatio)
        let limit = min(limits.maxDecodedBytes, ratioLimit)
        var output: [UInt8] = []
        output.reserveCapacity(input.count > limit / 8 ? limit : input.count * 8)
        var consumed = 0
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64 << 10) { chunk in
            while true {
                let available = min(input.count - consumed, Int(UInt32.max))
                stream.next_in = UnsafeMutablePointer(mutating: inputBase.assumingMemoryBound(to: UInt8.self) + consumed)
                stream.avail_in = UInt32(available)
                stream.next_out = chunk.baseAddress!
                stream.avail_out = UInt32(chunk.count)
                let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                consumed += available - Int(stream.avail_in)
                let produced = chunk.count - Int(stream.avail_out)
                guard output.count + produced <= limit else { return .failure(.init(reason: .tooLarge)) }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[..<produced]))
                switch status {
                case Z_STREAM_END:
                    if consumed == input.count { return .success(output) }
                    let rest = UnsafeRawBufferPointer(rebasing: input[consumed...])
                    guard isGzip(rest), inflateReset(&stream) == Z_OK else { return .failure(.init(reason: .badGzip)) }
                case Z_OK:
                    continue
                default:
                    // Z_BUF_ERROR with room to write: the input ended inside a member. Others: corrupt.
                    return .failure(.init(reason: .badGzip))
                }
            }
        }
    }
}
