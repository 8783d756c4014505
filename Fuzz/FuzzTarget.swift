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
