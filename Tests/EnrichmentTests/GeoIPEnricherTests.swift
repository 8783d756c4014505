import CloudTrail
import Detection
import Enrichment
import Foundation
import Logging
import Testing

let quiet: Logger = {
    var l = Logger(label: "test") { StreamLogHandler.standardError(label: $0) }
    l.logLevel = .critical
    return l
}()

@Suite("GeoIP lookups against generated databases", .enabled(if: GeoIPFixtures.isEnabled))
struct GeoIPEnricherTests {
    func enricher(city: Bool = true, asn: Bool = true, _ edit: (inout GeoIPEnricher.Configuration) -> Void = { _ in }) throws -> GeoIPEnricher {
        let db = try GeoIPFixtures.require()
        var c = GeoIPEnricher.Configuration(cityDatabase: city ? db.city : nil, asnDatabase: asn ? db.asn : nil)
        edit(&c)
        return try GeoIPEnricher(c, logger: quiet)
    }

    @Test func anIPv4AddressGetsItsNetworkAndCity() throws {
        let e = try enricher()
        #expect(e.hasASN && e.hasCity)
        #expect(e.enrich(SourceAddress(parsing: "198.51.100.20")) == AddressEnrichment(
            asn: 64501, asOrganization: "EXAMPLE-VPS", countryCode: "DE", city: "Frankfurt am Main"))
        #expect(e.enrich(SourceAddress(parsing: "54.240.7.9"))?.asOrganization == "AMAZON-AES")
    }

    @Test func anIPv6AddressGetsItsNetworkAndCity() throws {
        let e = try enricher()
        #expect(e.enrich(SourceAddress(parsing: "2001:db8:1::5")) == AddressEnrichment(
            asn: 64503, asOrganization: "EXAMPLE-V6-ISP", countryCode: "IE", city: "Dublin"))
        #expect(e.enrich(SourceAddress(parsing: "2001:db8:2:ffff::1"))?.asOrganization == "AMAZON-02")
    }

    @Test func unknownAddressesAndServiceNamesHaveNothing() throws {
        let e = try enricher()
        #expect(e.enrich(SourceAddress(parsing: "8.8.8.8")) == nil)
        #expect(e.enrich(SourceAddress(parsing: "2001:db8:9::1")) == nil)
        #expect(e.enrich(SourceAddress(parsing: "ec2.amazonaws.com")) == nil)
    }

    @Test func anAddressKnownToOneDatabaseOnlyHasThoseFieldsOnly() throws {
        let e = try enricher()
        #expect(e.enrich(SourceAddress(parsing: "233.252.0.9")) == AddressEnrichment(asn: 64504, asOrganization: "EXAMPLE-NO-CITY"))
    }

    @Test func withoutTheCityDatabaseThereIsNoCityAndNoCountry() throws {
        let e = try enricher(city: false)
        #expect(e.hasASN && !e.hasCity)
        #expect(e.enrich(SourceAddress(parsing: "198.51.100.20")) == AddressEnrichment(asn: 64501, asOrganization: "EXAMPLE-VPS"))
    }

    @Test func withoutTheASNDatabaseThereIsNoNetwork() throws {
        let e = try enricher(asn: false)
        #expect(!e.hasASN && e.hasCity)
        #expect(e.enrich(SourceAddress(parsing: "198.51.100.20")) == AddressEnrichment(countryCode: "DE", city: "Frankfurt am Main"))
    }

    @Test func aRepeatedAddressIsAnsweredFromTheCache() throws {
        let e = try enricher()
        let address = SourceAddress(parsing: "203.0.113.10")
        let first = e.enrich(address)
        let second = e.enrich(address)
        #expect(first == second && first?.city == "Seattle")
        #expect(e.statistics.lookups == 2)
        #expect(e.statistics.cacheHits == 1)
        // Misses are cached too: an unknown address does not walk the tree twice.
        _ = e.enrich(SourceAddress(parsing: "8.8.8.8"))
        _ = e.enrich(SourceAddress(parsing: "8.8.8.8"))
        #expect(e.statistics.cacheHits == 2)
    }

    @Test func theCacheIsBounded() throws {
        let e = try enricher { $0.cacheCapacity = 4 }
        for host in 1...20 { _ = e.enrich(SourceAddress(parsing: "203.0.113.\(host)")) }
        // The first address was pushed out long ago: looked up again, it is a miss (and still right).
        #expect(e.enrich(SourceAddress(parsing: "203.0.113.1"))?.city == "Seattle")
        #expect(e.statistics.cacheHits == 0)
        #expect(e.enrich(SourceAddress(parsing: "203.0.113.1"))?.city == "Seattle")
        #expect(e.statistics.cacheHits == 1)
    }

    @Test func aReplacedDatabaseIsReloadedAndTheCacheEmptied() throws {
        let db = try GeoIPFixtures.make()
        var c = GeoIPEnricher.Configuration(cityDatabase: db.city, asnDatabase: db.asn)
        c.reloadCheckInterval = .zero
        let e = try GeoIPEnricher(c, logger: quiet)
        let address = SourceAddress(parsing: "198.51.100.20")
        #expect(e.enrich(address)?.asOrganization == "EXAMPLE-VPS")
        _ = try GeoIPFixtures.make(variant: "renamed", into: db.directory)
        #expect(e.enrich(address)?.asOrganization == "EXAMPLE-VPS-RENAMED")
        #expect(e.statistics.reloads == 2)  // both files were replaced
        #expect(e.enrich(address)?.city == "Frankfurt am Main")
    }

    @Test func aChangeIsNoticedOnlyAfterTheCheckInterval() throws {
        let db = try GeoIPFixtures.make()
        var c = GeoIPEnricher.Configuration(asnDatabase: db.asn)
        c.reloadCheckInterval = .seconds(3_600)
        let e = try GeoIPEnricher(c, logger: quiet)
        let address = SourceAddress(parsing: "198.51.100.20")
        #expect(e.enrich(address)?.asOrganization == "EXAMPLE-VPS")
        _ = try GeoIPFixtures.make(variant: "renamed", into: db.directory)
        #expect(e.enrich(address)?.asOrganization == "EXAMPLE-VPS")
        e.checkForChanges()
        #expect(e.enrich(address)?.asOrganization == "EXAMPLE-VPS-RENAMED")
    }

    @Test func aBrokenReplacementKeepsTheLoadedDatabase() throws {
        let db = try GeoIPFixtures.make()
        var c = GeoIPEnricher.Configuration(asnDatabase: db.asn)
        c.reloadCheckInterval = .zero
        let e = try GeoIPEnricher(c, logger: quiet)
        let address = SourceAddress(parsing: "198.51.100.20")
        #expect(e.enrich(address)?.asOrganization == "EXAMPLE-VPS")
        let temporary = db.asn + ".partial"
        try Data("not a MaxMind database".utf8).write(to: URL(fileURLWithPath: temporary))
        #expect(rename(temporary, db.asn) == 0)
        #expect(e.enrich(address)?.asOrganization == "EXAMPLE-VPS")
        #expect(e.enrich(SourceAddress(parsing: "2001:db8:1::5"))?.asOrganization == "EXAMPLE-V6-ISP")
        #expect(e.statistics.reloadFailures == 1)  // logged once, not on every lookup
        #expect(e.statistics.reloads == 0)
    }

    @Test func aMissingOrInvalidDatabaseFailsAtStart() throws {
        #expect(throws: EnrichmentError.self) {
            try GeoIPEnricher(GeoIPEnricher.Configuration(asnDatabase: "/nonexistent/asn.mmdb"), logger: quiet)
        }
        let bogus = FileManager.default.temporaryDirectory.appendingPathComponent("tt-bogus-\(UInt32.random(in: 0...UInt32.max)).mmdb")
        try Data("not a MaxMind database".utf8).write(to: bogus)
        defer { try? FileManager.default.removeItem(at: bogus) }
        let error = #expect(throws: EnrichmentError.self) {
            try GeoIPEnricher(GeoIPEnricher.Configuration(cityDatabase: bogus.path), logger: quiet)
        }
        #expect(error?.path == bogus.path)
    }
}
