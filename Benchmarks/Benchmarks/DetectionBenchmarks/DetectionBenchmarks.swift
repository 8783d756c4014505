// Detection benchmarks: rule + windows throughput on a realistic mix, bytes per open one-address
// window, and resident memory with 1,000,000 principals holding open windows.
// Run: cd Benchmarks && swift package benchmark --target DetectionBenchmarks

import Benchmark
import CloudTrail
import Detection

#if canImport(Glibc)
import Glibc
#endif

/// A deterministic generator so runs are comparable.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let start: Int64 = 1_772_438_400_000

func uuid(_ random: inout SplitMix) -> String {
    let hex = Array("0123456789abcdef")
    let bits = (random.next(), random.next())
    var out = ""
    for i in 0..<32 {
        if [8, 12, 16, 20].contains(i) { out.append("-") }
        let word = i < 16 ? bits.0 : bits.1
        out.append(hex[Int(word >> UInt64((i % 16) * 4) & 15)])
    }
    return out
}

func accessKey(_ random: inout SplitMix) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    return "ASIA" + String((0..<16).map { _ in alphabet[Int(random.next() % 32)] })
}

/// A CloudTrail-like mix: most events pass the rule, the rest fail it in every way the rule
/// rejects (service callers, long-term keys, IaC agents, other identity types).
func realisticMix(count: Int, principals: Int) -> [CloudTrailEvent] {
    var random = SplitMix(state: 42)
    let agents = [
        "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023 prompt/off command/s3.ls",
        "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.79 md/arch#x86_64 lang/python#3.11.8 cfg/retry-mode#legacy",
        "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.5",
        "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0",
    ]
    let sources = ["s3.amazonaws.com", "sts.amazonaws.com", "ec2.amazonaws.com", "iam.amazonaws.com", "kms.amazonaws.com"]
    let names = ["GetObject", "PutObject", "GetCallerIdentity", "DescribeInstances", "Decrypt", "ListRoles"]
    let keys = (0..<principals).map { _ in accessKey(&random) }
    var events: [CloudTrailEvent] = []
    events.reserveCapacity(count)
    for i in 0..<count {
        let p = Int(random.next() % UInt64(principals))
        let time = start + Int64(i) * 7_200_000 / Int64(count) + Int64(random.next() % 120_000)
        let roll = random.next() % 100
        let home = UInt32(0x0A00_0000) | UInt32(p)
        var address: SourceAddress = roll < 2 ? .ipv4(0xCB00_7100 | UInt32(random.next() % 8)) : .ipv4(home)
        var type = p % 4 == 0 ? "IAMUser" : "AssumedRole"
        var key = keys[p]
        var agent = agents[Int(random.next() % 3)]
        switch roll {
        case 80..<88: address = .notAnAddress            // a service calling on the principal's behalf
        case 88..<93: key = "AKIA" + key.dropFirst(4)     // long-term key
        case 93..<97: agent = agents[3]                    // infrastructure as code
        case 97..<100: type = "AWSService"
        default: break
        }
        events.append(CloudTrailEvent(
            eventTime: EventTime(millisecondsSinceEpoch: time),
            eventID: uuid(&random),
            eventSource: sources[Int(random.next() % 5)],
            eventName: names[Int(random.next() % 6)],
            awsRegion: "us-east-1",
            sourceIPAddress: address == .notAnAddress ? "ec2.amazonaws.com" : nil,
            sourceAddress: address,
            userAgent: agent,
            // With the session context CloudTrail writes for temporary credentials (the alert's response).
            userIdentity: UserIdentity(
                type: type, arn: "arn:aws:sts::123456789012:assumed-role/AppRole-\(p % 50)/session-\(p)",
                accountId: "123456789012", accessKeyId: key, mfaAuthenticated: false,
                sessionIssuerArn: "arn:aws:iam::123456789012:role/AppRole-\(p % 50)", sessionCreationDate: "2026-03-02T07:12:09Z"
            )
        ))
    }
    return events
}

/// One event for principal `i`, encoded as the route stage would send it.
func oneAddressObservation(_ i: Int, _ random: inout SplitMix, enriched: Bool = false) -> [UInt8] {
    Observation(
        groupingKey: "arn:aws:sts::123456789012:assumed-role/AppRole-\(i % 50)/i-\(String(i, radix: 16))-session",
        principalArn: "arn:aws:sts::123456789012:assumed-role/AppRole-\(i % 50)/i-\(String(i, radix: 16))-session",
        principalType: "AssumedRole", accountId: "123456789012",
        address: .ipv4(0x0A00_0000 | UInt32(i & 0xFFFFFF)), accessKeyId: accessKey(&random),
        userAgent: "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79-99.164.amzn2023.x86_64 exe/x86_64.amzn.2023",
        eventSource: "s3.amazonaws.com", eventName: "GetObject", awsRegion: "us-east-1",
        eventTime: EventTime(millisecondsSinceEpoch: start + 60_000), eventID: uuid(&random),
        origin: EventOrigin(topic: "cloudtrail", partition: 0, offset: Int64(i)),
        // With GeoIP databases: a distinct address per window (the worst case for the per-address
        // table), organisations and cities drawn from a realistic few thousand.
        enrichment: enriched ? AddressEnrichment(asn: UInt32(64_512 + i % 3_000), asOrganization: "EXAMPLE-ISP-\(i % 3_000)",
                                                 countryCode: "US", city: "City \(i % 2_000)") : nil,
        session: SessionFacts(issuerArn: "arn:aws:iam::123456789012:role/AppRole-\(i % 50)",
                              createdAt: EventTime(millisecondsSinceEpoch: start - 600_000), mfaAuthenticated: false)
    ).encode()
}

/// Resident set size from /proc/self/statm (Linux), in bytes; 0 elsewhere.
func residentBytes() -> Int {
    #if canImport(Glibc)
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var line = [UInt8](repeating: 0, count: 256)
    let count = fread(&line, 1, line.count, file)
    let fields = String(decoding: line.prefix(count), as: UTF8.self).split(separator: " ")
    guard fields.count >= 2, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    #else
    return 0
    #endif
}

/// Fills a detector with one open, one-address window for each of `count` principals.
/// Measured in a fresh process (one iteration), so the RSS delta is the detector's own memory:
/// dictionary storage, window slots, and the strings it keeps.
func openWindows(_ count: Int, enriched: Bool = false) -> (detector: WindowedDetector, residentBytes: Int) {
    var random = SplitMix(state: 7)
    let now = EventTime(millisecondsSinceEpoch: start + 3_600_000)
    let residentBefore = residentBytes()
    var detector = WindowedDetector()
    for i in 0..<count {
        // Decoded per event, as the detect stage does: what remains allocated is the window's own.
        let bytes = oneAddressObservation(i, &random, enriched: enriched)
        let observation = try! Observation(decoding: bytes)
        _ = detector.process(observation, partition: 0, offset: Int64(i), now: now)
    }
    return (detector, residentBytes() - residentBefore)
}

/// The realistic-mix run shared by iterations: 200,000 events over 2 hours of 20,000 principals,
/// replayed with event times shifted 2 hours per pass.
final class RealisticRun: @unchecked Sendable {
    // The benchmark runner calls benchmarks one at a time on one thread; nothing else touches it.
    let events = realisticMix(count: 200_000, principals: 20_000)
    let rule = DetectionRule()
    var detector = WindowedDetector()
    var i = 0
    let now = EventTime(millisecondsSinceEpoch: start + 86_400_000)

    func step() -> Int {
        defer { i += 1 }
        let event = events[i % events.count]
        let origin = EventOrigin(topic: "cloudtrail", partition: 0, offset: Int64(i))
        guard case .success(let observation) = rule.evaluate(event, origin: origin),
              var decoded = try? Observation(decoding: observation.encode()) else { return 0 }
        decoded.eventTime.millisecondsSinceEpoch += Int64(i / events.count) * 7_200_000
        return detector.process(decoded, partition: 0, offset: Int64(i), now: now).alerts.reduce(0) { $0 + $1.json().count }
    }
}

let realisticRun = RealisticRun()

/// A million open windows, built once (a global is made on first use) for the benchmarks that only
/// read them.
let millionWindows = openWindows(1_000_000).detector

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.maxDuration = .seconds(20)

    // Each iteration: rule + repartition codec + windows for one event of the mix; the detector
    // lives across iterations and samples, so windows fill, fire and are purged as in a real run.
    Benchmark(
        "Detection: rule + codec + windows, realistic mix (events)",
        configuration: .init(metrics: [.throughput, .wallClock], scalingFactor: .kilo,
                             maxDuration: .seconds(10), maxIterations: 200)
    ) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(realisticRun.step()) }
    }

    Benchmark(
        "Detection: allocations per event, realistic mix",
        configuration: .init(metrics: [.mallocCountTotal], scalingFactor: .kilo, maxIterations: 20)
    ) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(realisticRun.step()) }
    }

    Benchmark(
        "Detection: bytes per open one-address window",
        configuration: .init(
            metrics: [.custom("resident bytes per window", useScalingFactor: false),
                      .custom("estimated bytes per window (state gauge)", useScalingFactor: false)],
            warmupIterations: 0, maxIterations: 1
        )
    ) { benchmark in
        let count = 200_000
        let (detector, resident) = openWindows(count)
        benchmark.measurement(.custom("resident bytes per window", useScalingFactor: false), resident / count)
        // What tokentrail_state_bytes_estimate says for the same windows: it should track the above.
        benchmark.measurement(.custom("estimated bytes per window (state gauge)", useScalingFactor: false),
                              detector.summary().estimatedBytes / count)
        blackHole(detector)
    }

    Benchmark(
        "Detection: bytes per open one-address window, GeoIP-enriched",
        configuration: .init(
            metrics: [.custom("resident bytes per window", useScalingFactor: false),
                      .custom("estimated bytes per window (state gauge)", useScalingFactor: false)],
            warmupIterations: 0, maxIterations: 1
        )
    ) { benchmark in
        let count = 200_000
        let (detector, resident) = openWindows(count, enriched: true)
        benchmark.measurement(.custom("resident bytes per window", useScalingFactor: false), resident / count)
        benchmark.measurement(.custom("estimated bytes per window (state gauge)", useScalingFactor: false),
                              detector.summary().estimatedBytes / count)
        blackHole(detector)
    }

    // The state gauges' summary walks every window, on the pipeline thread at a commit (DetectorPipeline.stateSummary).
    Benchmark(
        "Detection: state summary of 1,000,000 open windows (the state gauges' walk)",
        configuration: .init(metrics: [.wallClock], timeUnits: .milliseconds, warmupIterations: 1, maxIterations: 20)
    ) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(millionWindows.summary()) }
    }

    // Every window of a 30-minute period closes when the watermark passes its end, in one call on the
    // pipeline thread: while it runs, nothing else is read (open alerts of new events wait).
    Benchmark(
        "Detection: closing 1,000,000 open windows at their end (one watermark advance)",
        configuration: .init(metrics: [.wallClock], timeUnits: .milliseconds, warmupIterations: 0, maxIterations: 1)
    ) { benchmark in
        var (detector, _) = openWindows(1_000_000)
        let now = EventTime(millisecondsSinceEpoch: start + 3_600_000)
        benchmark.startMeasurement()
        let alerts = detector.advance(partition: 0, externalWatermark: EventTime(millisecondsSinceEpoch: start + 3_600_000), now: now)
        benchmark.stopMeasurement()
        precondition(detector.summary().windows == 0, "every window closed and left")
        blackHole(alerts)
    }

    Benchmark(
        "Detection: 1,000,000 principals with open windows",
        configuration: .init(
            metrics: [.peakMemoryResident, .custom("resident MB (delta)", useScalingFactor: false)],
            warmupIterations: 0, maxIterations: 1
        )
    ) { benchmark in
        let (detector, resident) = openWindows(1_000_000)
        benchmark.measurement(.custom("resident MB (delta)", useScalingFactor: false), resident / 1_000_000)
        blackHole(detector)
    }
}
