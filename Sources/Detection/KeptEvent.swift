import CloudTrail

/// An event the rule kept, still lent by `CloudTrailDecoder.decodeEach` (valid only inside its
/// body): `DetectionRule.keep` makes it, `ObservationBatch.append(_:origin:)` encodes it from the
/// input's bytes. The same observation `DetectionRule.evaluate` makes, without its strings.
public struct KeptEvent {
    let event: EventFields
    let verdict: DetectionRule.Verdict
    let groupingKey: GroupingKey

    /// Calls `body` with the grouping key's UTF-8 bytes (the repartition record's partitioning key).
    public func withGroupingKey<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        event.withUTF8(groupingField, body)!  // kept: both present
    }

    /// The event field the grouping key is.
    var groupingField: CloudTrailDecoder.Fields { groupingKey == .principalArn ? .arn : .accessKeyId }
}

/// What `Observation.encode` writes, read either from an `Observation` or from a kept event in place.
protocol ObservationSource {
    var address: SourceAddress { get }
    var eventTime: EventTime { get }
    var origin: EventOrigin { get }
    /// Enrichment as `Observation` keeps it: nil when empty.
    var enrichment: AddressEnrichment? { get }
    /// Flag bit 6 when the grouping key equals the ARN, else bit 7 when it equals the access key, else 0.
    var groupingKeyFlag: UInt8 { get }
    /// `body` over one text field's UTF-8 bytes; nil when the field is absent.
    func withText<R>(_ field: ObservationText, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R?
}

/// The text fields of the encoding, in the order it writes them.
enum ObservationText {
    case principalArn, principalType, accessKeyId, topic, groupingKey
    case accountId, userAgent, eventSource, eventName, awsRegion, eventID
}

extension Observation: ObservationSource {
    var groupingKeyFlag: UInt8 {
        groupingKey == principalArn ? 1 << 6 : groupingKey == accessKeyId ? 1 << 7 : 0
    }

    func withText<R>(_ field: ObservationText, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        let text: String?
        switch field {
        case .principalArn: text = principalArn
        case .principalType: text = principalType
        case .accessKeyId: text = accessKeyId
        case .topic: text = origin.topic
        case .groupingKey: text = groupingKey
        case .accountId: text = accountId
        case .userAgent: text = userAgent
        case .eventSource: text = eventSource
        case .eventName: text = eventName
        case .awsRegion: text = awsRegion
        case .eventID: text = eventID
        }
        guard var text else { return nil }
        return text.withUTF8(body)
    }
}

/// A kept event and where it was read: what the route stage encodes.
struct LentObservation: ObservationSource {
    let kept: KeptEvent
    let origin: EventOrigin

    var address: SourceAddress { kept.verdict.address }
    var eventTime: EventTime { kept.event.eventTime }
    var enrichment: AddressEnrichment? { kept.verdict.enrichment.flatMap { $0.isEmpty ? nil : $0 } }

    var groupingKeyFlag: UInt8 {
        guard kept.groupingKey == .accessKeyId else { return 1 << 6 }
        // As `Observation.groupingKeyFlag`: `String` equality, which is byte equality for ASCII.
        let sameAsArn = kept.event.withUTF8(.arn) { arn in
            kept.event.withUTF8(.accessKeyId) { key in
                UTF8Text.isASCII(arn) && UTF8Text.isASCII(key)
                    ? arn.elementsEqual(key)
                    : String(decoding: arn, as: UTF8.self) == String(decoding: key, as: UTF8.self)
            }
        }
        return sameAsArn == true ? 1 << 6 : 1 << 7
    }

    func withText<R>(_ field: ObservationText, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        let event = kept.event
        switch field {
        case .principalArn: return event.withUTF8(.arn, body)
        case .principalType: return event.withUTF8(.type, body)
        case .accessKeyId: return event.withUTF8(.accessKeyId, body)
        case .topic:
            var topic = origin.topic
            return topic.withUTF8(body)
        case .groupingKey: return event.withUTF8(kept.groupingField, body)
        case .accountId: return event.withUTF8(.accountId, body) ?? event.withUTF8(.recipientAccountId, body)
        case .userAgent: return event.withUTF8(.userAgent, body)
        case .eventSource: return event.withUTF8(.eventSource, body)
        case .eventName: return event.withUTF8(.eventName, body)
        case .awsRegion: return event.withUTF8(.awsRegion, body)
        case .eventID: return event.withUTF8(.eventID, body)
        }
    }
}

extension ObservationBatch {
    /// Appends the observation of a kept event, encoded from the input's bytes: the same bytes as
    /// `append(rule.evaluate(event, origin: origin))` (`LentRuleTests` checks it), no strings made.
    public mutating func append(_ kept: KeptEvent, origin: EventOrigin) {
        append(encoding: LentObservation(kept: kept, origin: origin))
    }
}
