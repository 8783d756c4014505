import CloudTrail

/// An event the rule kept, still lent by `CloudTrailDecoder.decodeEach` (valid only inside its
/// body): `DetectionRule.keep` makes it, `ObservationBatch.append(_:origin:)` encodes it from the
/// input's bytes. The same observation `DetectionRule.evaluate` makes, without its strings.
public struct KeptEvent {
    let event: EventFields
    let verdict: DetectionRule.Verdict
    let groupingKey: GroupingKey

    /// The grouping key's UTF-8 bytes (the repartition record's partitioning key), lent like the
    /// event. Not a generic `withGroupingKey(body)`: called from another module, a generic is not
    /// specialised (a metadata look-up and witness calls on every event).
    public var groupingKeyUTF8: UnsafeBufferPointer<UInt8> {
        event.utf8(groupingField)!  // kept: both present
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
    /// The session's `creationDate` and `mfaAuthenticated` (its issuer and source identity are text).
    var sessionCreatedAt: EventTime? { get }
    var mfaAuthenticated: Bool? { get }
    /// `body` over one text field's UTF-8 bytes; nil when the field is absent.
    func withText<R>(_ field: ObservationText, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R?
    /// One text field as a string (for what the detector keeps); nil when the field is absent.
    func string(_ field: ObservationText) -> String?
}

extension ObservationSource {
    func string(_ field: ObservationText) -> String? {
        withText(field) { String(decoding: $0, as: UTF8.self) }
    }
}

/// The text fields of the encoding, in the order it writes them.
enum ObservationText {
    case principalArn, principalType, accessKeyId, topic, groupingKey
    case accountId, userAgent, eventSource, eventName, awsRegion, eventID
    case sessionIssuerArn, sourceIdentity
}

extension Observation: ObservationSource {
    /// `groupingKeyFlag` values (the encoding's flag bits 6 and 7).
    static let groupingKeyIsArn: UInt8 = 1 << 6
    static let groupingKeyIsAccessKey: UInt8 = 1 << 7

    var groupingKeyFlag: UInt8 {
        groupingKey == principalArn ? Self.groupingKeyIsArn : groupingKey == accessKeyId ? Self.groupingKeyIsAccessKey : 0
    }

    var sessionCreatedAt: EventTime? { session.createdAt }
    var mfaAuthenticated: Bool? { session.mfaAuthenticated }

    func withText<R>(_ field: ObservationText, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R? {
        guard var text = string(field) else { return nil }
        return text.withUTF8(body)
    }

    func string(_ field: ObservationText) -> String? {
        switch field {
        case .principalArn: principalArn
        case .principalType: principalType
        case .accessKeyId: accessKeyId
        case .topic: origin.topic
        case .groupingKey: groupingKey
        case .accountId: accountId
        case .userAgent: userAgent
        case .eventSource: eventSource
        case .eventName: eventName
        case .awsRegion: awsRegion
        case .eventID: eventID
        case .sessionIssuerArn: session.issuerArn
        case .sourceIdentity: session.sourceIdentity
        }
    }
}

/// A kept event and where it was read: what the route stage encodes.
struct LentObservation: ObservationSource {
    let kept: KeptEvent
    let origin: EventOrigin

    var address: SourceAddress { kept.verdict.address }
    var eventTime: EventTime { kept.event.eventTime }
    var enrichment: AddressEnrichment? { kept.verdict.enrichment.flatMap { $0.isEmpty ? nil : $0 } }
    var sessionCreatedAt: EventTime? { SessionFacts.creationDate(kept.event) }
    var mfaAuthenticated: Bool? { kept.event.mfaAuthenticated }

    var groupingKeyFlag: UInt8 {
        guard kept.groupingKey == .accessKeyId else { return Observation.groupingKeyIsArn }
        // As `Observation.groupingKeyFlag`: `String` equality, which is byte equality for ASCII.
        let sameAsArn = kept.event.withUTF8(.arn) { arn in
            kept.event.withUTF8(.accessKeyId) { key in
                UTF8Text.isASCII(arn) && UTF8Text.isASCII(key)
                    ? arn.elementsEqual(key)
                    : String(decoding: arn, as: UTF8.self) == String(decoding: key, as: UTF8.self)
            }
        }
        return sameAsArn == true ? Observation.groupingKeyIsArn : Observation.groupingKeyIsAccessKey
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
        // Empty is absent, as `SessionFacts` has it.
        case .sessionIssuerArn: return event.utf8(.sessionIssuerArn).flatMap { $0.isEmpty ? nil : body($0) }
        case .sourceIdentity: return event.utf8(.sourceIdentity).flatMap { $0.isEmpty ? nil : body($0) }
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
