import CloudTrail
import Testing
@testable import Simulation

@Suite struct RecordStreamTests {
    let decoder = CloudTrailDecoder()

    @Test func batchesAreRecordsDocumentsOfOnePartition() throws {
        let records = Array(try RecordStream(generator: Sample.generator, options: RecordOptions(batchSize: 7)))
        var decoded: [CloudTrailEvent] = []
        var byPartition: [Int: [String]] = [:]
        for r in records {
            #expect(r.value.starts(with: Array(#"{"Records":["#.utf8)))
            let result = decoder.decode(r.value)
            #expect(result.errors.isEmpty)
            #expect(result.events.count == r.eventCount && (1...7).contains(r.eventCount))
            #expect(r.key == nil && r.badKind == nil)
            decoded += result.events
            byPartition[r.partition, default: []] += result.events.compactMap(\.eventID)
        }
        #expect(decoded.count == Sample.events.count)
        for (p, ids) in byPartition {
            #expect(ids == Sample.events.filter { $0.partition == p }.map(\.eventID), "partition \(p) keeps its order")
        }
        #expect(records.count < Sample.events.count / 5)
    }

    @Test func singleEventRecordsAreTheEventsThemselves() throws {
        let keyed = try TrafficGenerator(Sample.configuration(keyed: true))
        let records = Array(try RecordStream(generator: keyed, options: RecordOptions()).prefix(300))
        let events = Array(keyed.prefix(300))
        #expect(records.map(\.value) == events.map(\.json))
        #expect(records.map(\.partition) == events.map(\.partition))
        #expect(records.map { $0.key.map { String(decoding: $0, as: UTF8.self) } } == events.map(\.principalArn))
        #expect(throws: SimulationError.self) { try RecordStream(generator: keyed, options: RecordOptions(batchSize: 2)) }
    }

    @Test func badInputIsBadAndGoodMembersStillCount() throws {
        let stream = try RecordStream(generator: Sample.generator, options: RecordOptions(badRecords: 8))
        var oracle = ExpectedAlerts()
        var kinds: [BadRecordKind: Int] = [:]
        var goodEvents = 0
        for r in stream {
            #expect(!r.value.contains(0x0A), "records are also JSON lines")
            let result = decoder.decode(r.value)
            for e in result.events { oracle.add(decoded: e) }
            goodEvents += result.events.count
            #expect(result.events.count == r.eventCount)
            guard let kind = r.badKind else {
                #expect(result.errors.isEmpty)
                continue
            }
            kinds[kind, default: 0] += 1
            #expect(result.errors.count == 1, "\(kind): \(result.errors)")
            switch kind {
            case .batchWithBadMember:
                #expect(r.eventCount == 2)
                #expect(result.errors.first?.recordIndex == 1)
            case .oversized:
                #expect(r.value.count == 5 << 20)
                // Bad under a size limit too.
                let limited = CloudTrailDecoder(limits: .init(maxDecodedBytes: 1 << 20)).decode(r.value)
                #expect(limited.events.isEmpty && limited.errors.map(\.reason) == [.tooLarge])
            case .invalidJSON, .randomBytes:
                #expect(r.eventCount == 0 && result.errors.first?.reason == .notJSON)
            }
        }
        #expect(kinds == [.invalidJSON: 2, .randomBytes: 2, .oversized: 2, .batchWithBadMember: 2])
        #expect(goodEvents == Sample.events.count)
        #expect(oracle.alerts == Sample.generator.expectedAlerts())
    }

    @Test func sequentialOrderProducesOnePartitionAfterAnother() throws {
        let stream = try RecordStream(generator: Sample.generator, options: RecordOptions(batchSize: 3, badRecords: 4, order: .sequential))
        var partitions: [Int] = []
        var ids: [String] = []
        for r in stream {
            partitions.append(r.partition)
            ids += decoder.decode(r.value).events.compactMap(\.eventID)
        }
        #expect(partitions == partitions.sorted())
        #expect(Set(partitions) == Set(0..<Sample.generator.configuration.partitions))
        let expected = (0..<Sample.generator.configuration.partitions).flatMap { p in
            Sample.events.filter { $0.partition == p }.map(\.eventID)
        }
        #expect(ids == expected)
    }
}
