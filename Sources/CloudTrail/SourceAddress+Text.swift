// Provisional parsing and formatting; the decoding work replaces it with the full RFC 5952 version.
extension SourceAddress {
    /// Classifies `sourceIPAddress` text. Anything that is not strictly an address is `.notAnAddress`.
    public init(parsing text: String) {
        var octets: [UInt32] = []
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard !part.isEmpty, part.count <= 3, !(part.count > 1 && part.first == "0"),
                  let v = UInt32(part), v <= 255 else { self = .notAnAddress; return }
            octets.append(v)
        }
        guard octets.count == 4 else { self = .notAnAddress; return }
        self = .ipv4(octets.reduce(0) { $0 << 8 | $1 })
    }

    public var canonicalText: String {
        switch self {
        case .ipv4(let v):
            return "\(v >> 24).\(v >> 16 & 255).\(v >> 8 & 255).\(v & 255)"
        case .ipv6(let hi, let lo):
            let groups = (0..<8).map { i -> UInt16 in
                let word = i < 4 ? hi : lo
                return UInt16(truncatingIfNeeded: word >> (UInt64(3 - i % 4) * 16))
            }
            return groups.map { String($0, radix: 16) }.joined(separator: ":")
        case .notAnAddress:
            return ""
        }
    }
}
