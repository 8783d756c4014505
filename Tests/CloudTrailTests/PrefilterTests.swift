import Testing
@testable import CloudTrail

@Suite struct PrefilterTests {
    let decoder = CloudTrailDecoder()
    let seed = CloudTrailPrefilter.seed

    @Test func fixtureVerdicts() {
        let expected: [String: Bool] = [
            "iam-user-session-token": true, "assumed-role": true, "console-session": true,
            "service-caller": false,  // ec2.amazonaws.com is not an address
            "aws-internal": false, "ipv6-caller": true, "root-user": false, "error-event": true,
        ]
        for name in Fixture.eventNames {
            let bytes = Fixture.event(name)
            #expect(seed.mayMatch(bytes) == expected[name], "\(name)")
            // Here the pre-filter is exact: it agrees with the full decode.
            #expect(seed.admits(decoder.decode(bytes).events[0]) == expected[name], "\(name)")
        }
    }

    @Test func decidesWithoutReadingTheRest() {
        // A Root event cut after `"type":"Root"` and followed by garbage: rejected from 60 bytes.
        let root = Fixture.event("root-user")
        let poisoned = Array(root.prefix(60)) + Array(repeating: 0xFF, count: 1000)
        #expect(!seed.mayMatch(poisoned))
        // A matching event's answer comes at sourceIPAddress, before requestParameters.
        let iam = Fixture.event("iam-user-session-token")
        let cut = String(decoding: iam, as: UTF8.self).range(of: "\"userAgent\"")!.lowerBound.utf16Offset(in: String(decoding: iam, as: UTF8.self))
        #expect(seed.mayMatch(Array(iam.prefix(cut)) + Array(repeating: 0x00, count: 100)))
        // And the decoder, reading everything, rejects that input.
        #expect(decoder.decode(Array(iam.prefix(cut)) + [0x00]).events.isEmpty)
    }

    @Test func decoderSkipsBatchMembersThatCannotMatch() {
        let batch = Fixture.records(Fixture.allEvents)
        let all = decoder.decode(batch)
        let filtered = CloudTrailDecoder(prefilter: seed).decode(batch)
        // service-caller, aws-internal and root-user cannot match the seed profile.
        #expect(filtered.filtered == 3)
        #expect(filtered.events == all.events.filter(seed.admits))
        #expect(filtered.events.count == 5)
        // A single event and an EventBridge detail are filtered the same way.
        #expect(CloudTrailDecoder(prefilter: seed).decode(Fixture.event("root-user")).filtered == 1)
        let bridge = Array(#"{"detail-type":"AWS API Call via CloudTrail","detail":"#.utf8) + Fixture.event("aws-internal") + Array("}".utf8)
        let bridged = CloudTrailDecoder(prefilter: seed).decode(bridge)
        #expect(bridged.filtered == 1 && bridged.events.isEmpty && bridged.errors.isEmpty)
        // Members it keeps still report their errors.
        let bad = Fixture.records([Array(#"{"userIdentity":{"type":"IAMUser","accessKeyId":"ASIA1"},"sourceIPAddress":"1.2.3.4"}"#.utf8)])
        #expect(CloudTrailDecoder(prefilter: seed).decode(bad).errors.map(\.reason) == [.missingEventTime])
    }

    @Test func unsureMeansMaybe() {
        #expect(seed.mayMatch(StoredGzip.wrap(Fixture.event("root-user"))))
        #expect(seed.mayMatch(Fixture.records([Fixture.event("root-user")])))
        #expect(seed.mayMatch(Array("[".utf8) + Fixture.event("root-user") + Array("]".utf8)))
        #expect(seed.mayMatch("not json".bytes))
        #expect(seed.mayMatch(#"{"userIdentity":{"type":"IAM\u0055ser"}}"#.bytes))
    }

    @Test func otherProfiles() {
        let rootAnywhere = CloudTrailPrefilter(identityTypes: ["Root"], accessKeyPrefixes: [], requireSourceAddress: false)
        #expect(rootAnywhere.mayMatch(Fixture.event("root-user")))
        #expect(!rootAnywhere.mayMatch(Fixture.event("assumed-role")))
        let longTermKeys = CloudTrailPrefilter(identityTypes: [], accessKeyPrefixes: ["AKIA"])
        #expect(!longTermKeys.mayMatch(Fixture.event("iam-user-session-token")))
        let anything = CloudTrailPrefilter(identityTypes: [], accessKeyPrefixes: [], requireSourceAddress: false)
        for event in Fixture.allEvents { #expect(anything.mayMatch(event)) }
    }

    /// The property that makes the pre-filter safe: it never says "no" to an input from which the
    /// full decoder gets an event the profile admits. Inputs are generated to sit near the boundary.
    @Test(arguments: [
        CloudTrailPrefilter.seed,
        CloudTrailPrefilter(identityTypes: ["Root", "FederatedUser"], accessKeyPrefixes: [], requireSourceAddress: false),
        CloudTrailPrefilter(identityTypes: [], accessKeyPrefixes: ["AKIA", "ASIA"], requireSourceAddress: true),
    ])
    func neverRejectsWhatTheDecoderAdmits(profile: CloudTrailPrefilter) {
        var random = SeededRandom(seed: 2025)
        var admitted = 0
        var rejected = 0
        for round in 0..<6000 {
            let doc = EventGenerator.document(&random)
            let events = decoder.decode(doc).events
            let verdict = profile.mayMatch(doc)
            if events.contains(where: profile.admits) {
                admitted += 1
                #expect(verdict, "round \(round): \(String(decoding: doc, as: UTF8.self))")
            }
            // The decoder's own per-member pre-filtering loses no admitted event either.
            let filtering = CloudTrailDecoder(prefilter: profile)
            #expect(filtering.decode(doc).events.filter(profile.admits) == events.filter(profile.admits))
            if !verdict { rejected += 1 }
        }
        // Not vacuous: both sides of the boundary were exercised.
        #expect(admitted > 200)
        #expect(rejected > 300)
    }
}

/// Random events near the rule's boundary: each relevant field drawn from matching, non-matching,
/// escaped, null and wrong-typed values, keys in random order, duplicates, envelopes and damage.
enum EventGenerator {
    static let types = [#""IAMUser""#, #""AssumedRole""#, #""Root""#, #""FederatedUser""#, #""AWSService""#,
                        #""IAMUse""#, #""iamuser""#, #""IAM\u0055ser""#, #""IAMUsér""#, "null", "5", "{}"]
    static let keys = [#""ASIAY34FZKBOKMUTVV7A""#, #""ASIA""#, #""AKIAIOSFODNN7EXAMPLE""#, #""ASI""#, #""""#, #""\u0041SIAXX""#,
                       #""asia1""#, "null", "12"]
    static let addresses = [#""198.51.100.23""#, #""2001:db8::1""#, #""::ffff:1.2.3.4""#, #""ec2.amazonaws.com""#,
                            #""AWS Internal""#, #""035.1.2.3""#, #""1.2.3.\u0034""#, "null", "7", #""1.2.3.4 ""#]
    static let times = [#""2026-03-02T08:00:00Z""#, #""2026-03-02T08:00:00.5+01:00""#, #""bad""#, "null", "1"]
    static let fillers = [
        #""eventName":"GetObject""#, #""eventVersion":"1.09""#, #""requestParameters":{"a":[1,{"b":null}],"c":"\"x\""}"#,
        #""responseElements":null"#, #""Records":[{"eventTime":"2026-03-02T08:00:00Z"}]"#, #""detail":{"eventTime":"2026-03-02T08:00:00Z"}"#,
        #""userAgent":"Terraform/1.7""#, #""readOnly":true"#,
    ]

    /// Half the time one of the first `favoured` values of the pool (the ones the profiles admit).
    static func pick(_ pool: [String], favoured: Int = 2, _ random: inout SeededRandom) -> String {
        Bool.random(using: &random)
            ? pool[Int.random(in: 0..<favoured, using: &random)] : pool.randomElement(using: &random)!
    }

    static func identity(_ random: inout SeededRandom) -> String {
        var members = [#""arn":"arn:aws:iam::1:user/x""#, #""sessionContext":{"attributes":{"mfaAuthenticated":"true"}}"#]
        members.append(#""type":"# + pick(types, favoured: 4, &random))
        members.append(#""accessKeyId":"# + pick(keys, &random))
        if Int.random(in: 0..<5, using: &random) == 0 { members.append(#""type":"# + pick(types, favoured: 4, &random)) }
        if Int.random(in: 0..<5, using: &random) == 0 { members.append(#""accessKeyId":"# + pick(keys, &random)) }
        if Int.random(in: 0..<10, using: &random) == 0 { members.append(#""acc\u0065ssKeyId":"# + pick(keys, &random)) }
        members.shuffle(using: &random)
        return "{" + members.joined(separator: ",") + "}"
    }

    static func event(_ random: inout SeededRandom) -> String {
        var members: [String] = []
        if Int.random(in: 0..<10, using: &random) != 0 { members.append(#""eventTime":"# + pick(times, &random)) }
        if Int.random(in: 0..<10, using: &random) != 0 {
            let value = Int.random(in: 0..<12, using: &random) == 0 ? "null" : identity(&random)
            members.append(#""userIdentity":"# + value)
        }
        if Int.random(in: 0..<10, using: &random) != 0 { members.append(#""sourceIPAddress":"# + pick(addresses, &random)) }
        if Int.random(in: 0..<6, using: &random) == 0 { members.append(#""userIdentity":"# + identity(&random)) }
        if Int.random(in: 0..<6, using: &random) == 0 { members.append(#""sourceIPAddress":"# + pick(addresses, &random)) }
        if Int.random(in: 0..<12, using: &random) == 0 { members.append(#""user\u0049dentity":"# + identity(&random)) }
        for _ in 0..<Int.random(in: 0...3, using: &random) { members.append(pick(fillers, &random)) }
        members.shuffle(using: &random)
        return "{" + members.joined(separator: ",") + "}"
    }

    static func document(_ random: inout SeededRandom) -> [UInt8] {
        var text: String
        switch Int.random(in: 0..<10, using: &random) {
        case 0: text = #"{"Records":["# + (0..<Int.random(in: 1...3, using: &random)).map { _ in event(&random) }.joined(separator: ",") + "]}"
        case 1: text = "[" + event(&random) + "," + event(&random) + "]"
        case 2: text = #"{"detail-type":"AWS API Call via CloudTrail","detail":"# + event(&random) + "}"
        default: text = event(&random)
        }
        var bytes = Array(text.utf8)
        switch Int.random(in: 0..<12, using: &random) {
        case 0: bytes = StoredGzip.wrap(bytes)
        case 1 where !bytes.isEmpty: bytes.removeLast(Int.random(in: 1...bytes.count, using: &random))
        case 2 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
        default: break
        }
        return bytes
    }
}
