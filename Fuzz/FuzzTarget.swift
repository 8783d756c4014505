// libFuzzer entry point for the CloudTrail decoder, built by scripts/fuzz with -sanitize=fuzzer,address
// together with Sources/CloudTrail as one module (so no SwiftPM package or extra dependency is needed).
//
// Besides "no crash, no hang, no leak", it checks the invariants the pipeline relies on.

/// Small limits keep each execution fast; the limits themselves are tested in CloudTrailTests.
private let decoder = CloudTrailDecoder(limits: .init(maxDepth: 64, maxDecodedBytes: 1 << 20, maxCompressionRatio: 200))
private let profiles = [
    CloudTrailPrefilter.seed,
    CloudTrailPrefilter(identityTypes: ["Root"], accessKeyPrefixes: [], requireSourceAddress: false),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    let result = decoder.decode(bytes)
    // A conservative pre-filter never rejects what the decoder admits.
    for profile in profiles where result.events.contains(where: profile.admits) {
        precondition(profile.mayMatch(bytes), "pre-filter rejected an admitted event")
    }
    for profile in profiles {
        // Per-member pre-filtering inside the decoder loses no admitted event.
        let filtered = CloudTrailDecoder(limits: decoder.limits, prefilter: profile).decode(bytes)
        precondition(filtered.events.filter(profile.admits) == result.events.filter(profile.admits))
    }
    for event in result.events where event.sourceAddress.isAddress {
        // Canonical text parses back to the same address.
        precondition(SourceAddress(parsing: event.sourceAddress.canonicalText) == event.sourceAddress)
    }
    for error in result.errors {
        precondition(CloudTrailDecodingError.Reason(rawValue: error.reason.rawValue) == error.reason)
    }
    // The iterative skip (`JSONScanner.skipsValue`) never passes what the recursive grammar rejects,
    // and ends where it ends; within its nesting bound it rejects only what the grammar rejects.
    if let base = data, size > 0 {
        for maxDepth in [8, 64] {
            var fast = JSONScanner(base, count: size, maxDepth: maxDepth)
            var slow = fast
            let passed = fast.skipsValue(depth: 0)
            var slowPassed = true
            do throws(ScanFailure) { try slow.skipValueChecked(depth: 0) } catch { slowPassed = false }
            if passed { precondition(slowPassed && slow.pos == fast.pos, "skipsValue passed what the grammar rejects") }
            if maxDepth <= 62 { precondition(passed == slowPassed, "skipsValue rejected a value the grammar accepts") }
            if !passed { precondition(fast.pos == 0, "skipsValue moved on a failure") }
        }
    }
    // A key found from a hint (the key listed next) is the key the table finds without one.
    if let base = data {
        var quotes = 0
        for at in 0..<size where base[at] == UInt8(ascii: "\"") {
            quotes += 1
            if quotes > 32 { break }
            for known in [KnownKeys.event, KnownKeys.identity, KnownKeys.sessionContext] {
                let plain = known.match(base, at: at + 1, end: size)
                for start in [0, 1, 2, 7, 14] {
                    var hint = start
                    let hinted = known.match(base, at: at + 1, end: size, hint: &hint)
                    precondition(plain?.length == hinted?.length && plain?.field == hinted?.field, "hinted key match differs")
                }
            }
        }
    }
    // Decoding is a pure function of the bytes.
    precondition(decoder.decode(bytes) == result)
    _ = decoder.decodeLines(bytes)
    // The leaf parsers on raw bytes too.
    if size <= 64 {
        let address = SourceAddress(parsingUTF8: bytes)
        if address.isAddress { precondition(SourceAddress(parsing: address.canonicalText) == address) }
        if let time = RFC3339.parse(utf8: bytes) { _ = RFC3339.format(time) }
    }
    return 0
}
