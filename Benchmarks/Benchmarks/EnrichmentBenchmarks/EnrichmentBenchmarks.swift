// GeoIP lookup cost: a cached lookup (the hot path: most addresses repeat) and an uncached one
// (cache disabled: the libmaxminddb tree walk and record decoding of both databases).
// Run: cd Benchmarks && swift package benchmark --target EnrichmentBenchmarks
// Needs the test databases: ../.venv/bin/python ../scripts/make-test-mmdb.py /tmp/tokentrail-bench-mmdb
// (or TOKENTRAIL_BENCH_MMDB=DIR holding city.mmdb and asn.mmdb, e.g. real GeoLite2 files renamed).

import Benchmark
import CloudTrail
import Enrichment
import Foundation
import Logging

let directory = ProcessInfo.processInfo.environment["TOKENTRAIL_BENCH_MMDB"] ?? "/tmp/tokentrail-bench-mmdb"

func enricher(cache: Int) -> GeoIPEnricher {
    var c = GeoIPEnricher.Configuration(cityDatabase: directory + "/city.mmdb", asnDatabase: directory + "/asn.mmdb")
    c.cacheCapacity = cache
    do {
        return try GeoIPEnricher(c, logger: Logger(label: "bench"))
    } catch {
        fatalError("\(error): write the databases first (see the top of this file)")
    }
}

/// 1,024 addresses across the test networks, IPv4 and IPv6, most of them known to the databases.
let addresses: [SourceAddress] = (0..<1_024).map { i in
    switch i % 4 {
    case 0: SourceAddress(parsing: "203.0.113.\(i % 250 + 1)")
    case 1: SourceAddress(parsing: "198.51.100.\(i % 250 + 1)")
    case 2: SourceAddress(parsing: "2001:db8:1::\(String(i, radix: 16))")
    default: SourceAddress(parsing: "100.64.\(i % 250).\(i % 200 + 1)")
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], scalingFactor: .kilo,
                                           maxDuration: .seconds(5))

    Benchmark("GeoIP lookup, cached (1,024 repeating addresses)") { benchmark in
        let e = enricher(cache: 65_536)
        for a in addresses { blackHole(e.enrich(a)) }
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations { blackHole(e.enrich(addresses[i % addresses.count])) }
    }

    Benchmark("GeoIP lookup, uncached (City + ASN)") { benchmark in
        let e = enricher(cache: 0)
        for i in benchmark.scaledIterations { blackHole(e.enrich(addresses[i % addresses.count])) }
    }
}
