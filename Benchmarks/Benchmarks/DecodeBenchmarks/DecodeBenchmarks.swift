import Benchmark
import CloudTrail
import Foundation

// One iteration = every record of the corpus, one call each (as the route stage sees Kafka records).
// MB/s and events/s are computed from the wall time of each iteration (custom metrics, larger is better).

let corpus = Corpus.load(count: 2000)
let corpusBytes = corpus.reduce(0) { $0 + $1.count }
// The same records as a JSON-lines file, for the simdjson yardstick (scripts/bench sets the path).
let corpusWritten: Void = {
    guard let path = ProcessInfo.processInfo.environment["TOKENTRAIL_BENCH_CORPUS_OUT"] else { return }
    FileManager.default.createFile(atPath: path, contents: Data(corpus.joined(separator: [0x0A]) + [0x0A]))
}()

let megabytesPerSecond = BenchmarkMetric.custom("MB/s", polarity: .prefersLarger, useScalingFactor: false)
let eventsPerSecond = BenchmarkMetric.custom("k events/s", polarity: .prefersLarger, useScalingFactor: false)

/// Runs `body` over the corpus and records throughput.
@inline(__always)
func measure(_ benchmark: Benchmark, _ body: ([UInt8]) -> Void) {
    let start = ContinuousClock.now
    for record in corpus { body(record) }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    benchmark.measurement(megabytesPerSecond, Int(Double(corpusBytes) / seconds / 1e6))
    benchmark.measurement(eventsPerSecond, Int(Double(corpus.count) / seconds / 1e3))
}

let benchmarks: @Sendable () -> Void = {
    corpusWritten
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, megabytesPerSecond, eventsPerSecond],
        warmupIterations: 3, scalingFactor: .one, maxDuration: .seconds(4), maxIterations: 400
    )

    Benchmark("Decode: full extraction (scanner)") { benchmark in
        let decoder = CloudTrailDecoder()
        var result = CloudTrailDecodeResult()
        var decoded = 0
        measure(benchmark) { record in
            result.removeAll()
            decoder.decode(record, into: &result)
            decoded += result.events.count
        }
        precondition(decoded == corpus.count)
        blackHole(result)
    }

    // What the pipeline does (`run`, `scan`): every event checked as above, none made; the rule
    // reads the fields in place (here: the time, the address and the ARN's length).
    Benchmark("Decode: lent in place (decodeEach), rule fields") { benchmark in
        // `DetectionRule.fieldsRead` (this package does not depend on Detection).
        let decoder = CloudTrailDecoder(fields: [
            .type, .arn, .accountId, .accessKeyId, .userAgent, .eventSource, .eventName, .eventCategory,
            .awsRegion, .recipientAccountId, .eventID,
        ])
        var result = CloudTrailDecodeResult()
        var decoded = 0
        var seen = 0
        measure(benchmark) { record in
            result.removeAll()
            decoder.decodeEach(record, into: &result) { event in
                decoded += 1
                seen &+= Int(event.eventTime.millisecondsSinceEpoch) &+ (event.utf8(.arn)?.count ?? 0)
                if case .ipv4 = event.sourceAddress { seen &+= 1 }
            }
        }
        precondition(decoded == corpus.count)
        blackHole(seen)
    }

    Benchmark("Decode: pre-filter only (seed profile)") { benchmark in
        let prefilter = CloudTrailPrefilter.seed
        var maybe = 0
        measure(benchmark) { record in
            if prefilter.mayMatch(record) { maybe += 1 }
        }
        blackHole(maybe)
    }

    Benchmark("Decode: pre-filter, then full extraction of maybes") { benchmark in
        let prefilter = CloudTrailPrefilter.seed
        let decoder = CloudTrailDecoder()
        var result = CloudTrailDecodeResult()
        var admitted = 0
        measure(benchmark) { record in
            guard prefilter.mayMatch(record) else { return }
            result.removeAll()
            decoder.decode(record, into: &result)
            admitted += result.events.filter(prefilter.admits).count
        }
        blackHole(admitted)
    }

    Benchmark("Decode: Foundation JSONDecoder, same fields") { benchmark in
        let data = corpus.map { Data($0) }
        let decoder = JSONDecoder()
        var index = 0
        var events: [CloudTrailEvent] = []
        measure(benchmark) { _ in
            // Same output as the scanner: the public event with time and address classified.
            let c = try! decoder.decode(CodableEvent.self, from: data[index])
            index = (index + 1) % data.count
            guard let time = RFC3339.parse(c.eventTime) else { return }
            let identity = UserIdentity(
                type: c.userIdentity?.type, arn: c.userIdentity?.arn, accountId: c.userIdentity?.accountId,
                principalId: c.userIdentity?.principalId, userName: c.userIdentity?.userName,
                accessKeyId: c.userIdentity?.accessKeyId,
                mfaAuthenticated: c.userIdentity?.sessionContext?.attributes?.mfaAuthenticated.map { $0 == "true" },
                sessionIssuerArn: c.userIdentity?.sessionContext?.sessionIssuer?.arn)
            events.append(CloudTrailEvent(
                eventTime: time, eventID: c.eventID, eventSource: c.eventSource, eventName: c.eventName,
                eventCategory: c.eventCategory, awsRegion: c.awsRegion, sourceIPAddress: c.sourceIPAddress,
                userAgent: c.userAgent, recipientAccountId: c.recipientAccountId, errorCode: c.errorCode,
                sessionCredentialFromConsole: c.sessionCredentialFromConsole == "true", userIdentity: identity))
            if events.count == 64 { events.removeAll(keepingCapacity: true) }
        }
        blackHole(events)
    }

    Benchmark("Decode: Records batch of 2000 in one record (scanner)") { benchmark in
        decodeBatch(benchmark, prefilter: nil)
    }

    Benchmark("Decode: Records batch of 2000, decoder pre-filters members") { benchmark in
        decodeBatch(benchmark, prefilter: .seed)
    }
}

/// One `Records` document holding the whole corpus, decoded in one call.
func decodeBatch(_ benchmark: Benchmark, prefilter: CloudTrailPrefilter?) {
    let batch = Array(#"{"Records":["#.utf8) + corpus.joined(separator: [UInt8(ascii: ",")]) + Array("]}".utf8)
    let decoder = CloudTrailDecoder(limits: .init(maxDecodedBytes: 64 << 20), prefilter: prefilter)
    var count = 0
    let start = ContinuousClock.now
    let result = decoder.decode(batch)
    let elapsed = ContinuousClock.now - start
    count += result.events.count + result.filtered
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    benchmark.measurement(megabytesPerSecond, Int(Double(batch.count) / seconds / 1e6))
    benchmark.measurement(eventsPerSecond, Int(Double(count) / seconds / 1e3))
    precondition(count == corpus.count)
}
