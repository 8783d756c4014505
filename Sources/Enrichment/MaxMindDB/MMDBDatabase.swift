import CMaxMindDB
import CloudTrail
import Detection
import Glibc

/// One open `.mmdb` file (memory-mapped by libmaxminddb). The only type that touches the C API.
///
/// `@unchecked Sendable`: after `MMDB_open` the handle is read-only; libmaxminddb documents lookups
/// on a shared `MMDB_s` as thread-safe, and `deinit` (MMDB_close) runs only when no reference is left.
final class MMDBDatabase: @unchecked Sendable {
    private var handle = MMDB_s()
    let path: String
    /// `metadata.database_type`, e.g. `GeoLite2-City`.
    let databaseType: String

    private init(opened handle: MMDB_s, path: String) {
        self.handle = handle
        self.path = path
        databaseType = handle.metadata.database_type.map { String(cString: $0) } ?? ""
    }

    /// Opens `path`; throws with libmaxminddb's reason (missing file, not a MaxMind DB, ...).
    static func open(path: String) throws(EnrichmentError) -> MMDBDatabase {
        var handle = MMDB_s()
        let status = MMDB_open(path, UInt32(MMDB_MODE_MMAP), &handle)
        guard status == MMDB_SUCCESS else {
            var reason = String(cString: MMDB_strerror(status))
            if status == MMDB_IO_ERROR { reason += ": \(String(cString: strerror(errno)))" }
            throw EnrichmentError(path: path, reason: reason)
        }
        return MMDBDatabase(opened: handle, path: path)
    }

    deinit { MMDB_close(&handle) }

    /// The record for `address`, read through `body` while the entry is valid (do not escape it).
    private func withEntry<T>(_ address: SourceAddress, _ body: (inout MMDB_entry_s) -> T?) -> T? {
        var error: Int32 = 0
        let result: MMDB_lookup_result_s
        switch address {
        case .ipv4(let v):
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_addr.s_addr = v.bigEndian
            result = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(&handle, $0, &error) }
            }
        case .ipv6(let high, let low):
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            withUnsafeMutableBytes(of: &sa.sin6_addr) { raw in
                raw.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
                raw.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            result = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(&handle, $0, &error) }
            }
        case .notAnAddress:
            return nil
        }
        // An IPv6 address in an IPv4-only database is MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR: unknown.
        guard error == MMDB_SUCCESS, result.found_entry else { return nil }
        var entry = result.entry
        return body(&entry)
    }

    /// Reads the fields tokentrail uses from a GeoIP2/GeoLite2 City or ASN record (either layout;
    /// a database that has neither set of fields yields an empty value).
    func lookup(_ address: SourceAddress) -> AddressEnrichment? {
        withEntry(address) { entry in
            var e = AddressEnrichment()
            if let n = Self.value(&entry, Self.asnNumber) {
                switch Int32(n.type) {
                case MMDB_DATA_TYPE_UINT32: e.asn = n.uint32
                case MMDB_DATA_TYPE_UINT16: e.asn = UInt32(n.uint16)
                case MMDB_DATA_TYPE_UINT64: e.asn = UInt32(exactly: n.uint64)
                default: break
                }
            }
            e.asOrganization = Self.string(&entry, Self.asnOrganization)
            e.countryCode = Self.string(&entry, Self.countryCode)
            e.city = Self.string(&entry, Self.cityName)
            return e.isEmpty ? nil : e
        }
    }

    /// A field path as MMDB_aget_value takes it: a NULL-terminated array of C strings, built once.
    ///
    /// `@unchecked Sendable`: the pointers are into `StaticString` literals (static, immutable storage)
    /// and the array is never mutated after `init`.
    struct FieldPath: @unchecked Sendable {
        let pointers: [UnsafePointer<CChar>?]
        init(_ components: StaticString...) {
            pointers = components.map { UnsafeRawPointer($0.utf8Start).assumingMemoryBound(to: CChar.self) } + [nil]
        }
    }

    static let asnNumber = FieldPath("autonomous_system_number")
    static let asnOrganization = FieldPath("autonomous_system_organization")
    static let countryCode = FieldPath("country", "iso_code")
    static let cityName = FieldPath("city", "names", "en")

    private static func value(_ entry: inout MMDB_entry_s, _ path: FieldPath) -> MMDB_entry_data_s? {
        var data = MMDB_entry_data_s()
        let status = path.pointers.withUnsafeBufferPointer { MMDB_aget_value(&entry, &data, $0.baseAddress) }
        guard status == MMDB_SUCCESS, data.has_data else { return nil }
        return data
    }

    private static func string(_ entry: inout MMDB_entry_s, _ path: FieldPath) -> String? {
        guard let data = value(&entry, path), Int32(data.type) == MMDB_DATA_TYPE_UTF8_STRING,
              let start = data.utf8_string else { return nil }
        let bytes = UnsafeRawBufferPointer(start: start, count: Int(data.data_size))
        let text = String(decoding: bytes, as: UTF8.self)
        return text.isEmpty ? nil : text
    }
}
