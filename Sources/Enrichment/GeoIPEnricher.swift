public import CloudTrail
public import Detection
import Glibc
public import Logging
import Synchronization

/// ASN and city of source addresses from MaxMind-format databases (GeoLite2 / GeoIP2 City and ASN,
/// or any `.mmdb` with their field layout), with a bounded per-address cache and reload on change.
///
/// Both databases are optional. Lookups cost a hash-table probe when the address was seen recently
/// (docs/performance.md). At most every `reloadCheckInterval` a lookup also `stat`s the files; a file
/// whose inode, size or mtime changed is opened anew and swapped in whole, and the cache emptied.
/// A file that fails to open keeps the database already loaded and is logged (once per change).
public final class GeoIPEnricher: AddressEnricher {
    public struct Configuration: Sendable, Hashable {
        /// A City database (country, city); nil: none.
        public var cityDatabase: String?
        /// An ASN database (number, organisation); nil: none.
        public var asnDatabase: String?
        /// Addresses whose answer is kept (hits and misses alike); 0 disables the cache.
        public var cacheCapacity: Int = 65_536
        /// How often the files are checked for a change; zero checks on every lookup.
        public var reloadCheckInterval: Duration = .seconds(60)

        public init(cityDatabase: String? = nil, asnDatabase: String? = nil) {
            self.cityDatabase = cityDatabase
            self.asnDatabase = asnDatabase
        }
    }

    /// Counters for metrics and tests.
    public struct Statistics: Sendable, Hashable {
        public var lookups = 0
        public var cacheHits = 0
        public var reloads = 0
        public var reloadFailures = 0
        public init() {}
    }

    public let configuration: Configuration
    public let hasASN: Bool
    public let hasCity: Bool
    private let logger: Logger
    private let state: Mutex<State>

    /// Opens the configured databases; throws when a configured one cannot be opened (a path
    /// someone wrote down must work at start; only later reloads fall back to the old file).
    public init(_ configuration: Configuration, logger: Logger) throws(EnrichmentError) {
        self.configuration = configuration
        self.logger = logger
        let city = try configuration.cityDatabase.map { path throws(EnrichmentError) in try Loaded(path: path) }
        let asn = try configuration.asnDatabase.map { path throws(EnrichmentError) in try Loaded(path: path) }
        hasCity = city != nil
        hasASN = asn != nil
        state = Mutex(State(city: city, asn: asn, cache: AddressCache(capacity: configuration.cacheCapacity),
                            nextCheck: ReloadClock.now() + ReloadClock.nanoseconds(configuration.reloadCheckInterval)))
    }

    public func enrich(_ address: SourceAddress) -> AddressEnrichment? {
        if case .notAnAddress = address { return nil }
        let interval = ReloadClock.nanoseconds(configuration.reloadCheckInterval)
        return state.withLock { s in
            s.statistics.lookups += 1
            let now = ReloadClock.now()
            if now >= s.nextCheck {
                s.nextCheck = now + interval
                reloadChanged(&s)
            }
            if let hit = s.cache.get(address) {
                s.statistics.cacheHits += 1
                return hit.value
            }
            let value = Self.merge(s.city?.database.lookup(address), s.asn?.database.lookup(address))
            s.cache.insert(address, CachedAnswer(value: value))
            return value
        }
    }

    /// Checks the files now (instead of at the next interval), reloading what changed.
    public func checkForChanges() {
        state.withLock { reloadChanged(&$0) }
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// `database_type` of each loaded database, for the start log line.
    public var loadedDatabases: [String] {
        state.withLock { s in [s.city, s.asn].compactMap { $0.map { "\($0.database.path) (\($0.database.databaseType))" } } }
    }

    private func reloadChanged(_ s: inout State) {
        var changed = false
        for keyPath in [\State.city, \State.asn] {
            guard let loaded = s[keyPath: keyPath] else { continue }
            let identity = FileIdentity(path: loaded.database.path)
            guard identity != loaded.identity, identity != loaded.failedIdentity else { continue }
            do {
                s[keyPath: keyPath] = try Loaded(path: loaded.database.path)
                s.statistics.reloads += 1
                changed = true
                logger.info("GeoIP database reloaded", metadata: ["path": "\(loaded.database.path)"])
            } catch {
                s[keyPath: keyPath]?.failedIdentity = identity
                s.statistics.reloadFailures += 1
                logger.error("GeoIP database changed but cannot be loaded; keeping the previous one",
                             metadata: ["path": "\(loaded.database.path)", "error": "\(error.reason)"])
            }
        }
        if changed { s.cache.removeAll() }
    }

    static func merge(_ city: AddressEnrichment?, _ asn: AddressEnrichment?) -> AddressEnrichment? {
        guard var merged = city ?? asn else { return nil }
        if let asn, city != nil {
            merged.asn = merged.asn ?? asn.asn
            merged.asOrganization = merged.asOrganization ?? asn.asOrganization
        }
        return merged.isEmpty ? nil : merged
    }


    private struct Loaded {
        let database: MMDBDatabase
        let identity: FileIdentity?
        /// A changed file that failed to load: not retried until it changes again.
        var failedIdentity: FileIdentity?

        init(path: String) throws(EnrichmentError) {
            identity = FileIdentity(path: path)
            database = try MMDBDatabase.open(path: path)
        }
    }

    private struct State {
        var city: Loaded?
        var asn: Loaded?
        var cache: AddressCache
        var nextCheck: UInt64
        var statistics = Statistics()
    }
}

/// A lookup's answer, including "no database knows it" (worth caching too).
struct CachedAnswer {
    var value: AddressEnrichment?
}

/// A bounded cache in two generations: hits in the old generation move to the young one; when the
/// young one is full the old one is dropped and the young one becomes old. A cheap approximation of
/// LRU (what is used in every generation's lifetime survives) with at most `capacity` entries.
struct AddressCache {
    let capacity: Int
    private var young: [SourceAddress: CachedAnswer] = [:]
    private var old: [SourceAddress: CachedAnswer] = [:]

    init(capacity: Int) { self.capacity = max(0, capacity) }

    mutating func get(_ address: SourceAddress) -> CachedAnswer? {
        if let hit = young[address] { return hit }
        guard let hit = old[address] else { return nil }
        insert(address, hit)
        return hit
    }

    mutating func insert(_ address: SourceAddress, _ answer: CachedAnswer) {
        guard capacity > 0 else { return }
        if young.count >= (capacity + 1) / 2 {
            old = young
            young = Dictionary(minimumCapacity: (capacity + 1) / 2)
        }
        young[address] = answer
    }

    mutating func removeAll() {
        young.removeAll()
        old.removeAll()
    }

    var count: Int { young.count + old.count }
}
