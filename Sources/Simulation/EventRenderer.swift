import CloudTrail

/// The management API calls traffic is drawn from, with the parameters CloudTrail records for them.
enum EventCatalog {
    struct API: Sendable {
        var source: String
        var name: String
        var readOnly: Bool
        var kind: Kind
    }

    enum Kind: Sendable {
        case none, listBuckets, describeInstances, getRole, getSecretValue, decrypt, getParameter,
             describeTable, listFunctions, assumeRole, putObjectAcl, describeLogGroups, runInstances
    }

    static let apis: [API] = [
        API(source: "sts.amazonaws.com", name: "GetCallerIdentity", readOnly: true, kind: .none),
        API(source: "s3.amazonaws.com", name: "ListBuckets", readOnly: true, kind: .listBuckets),
        API(source: "ec2.amazonaws.com", name: "DescribeInstances", readOnly: true, kind: .describeInstances),
        API(source: "ec2.amazonaws.com", name: "DescribeInstances", readOnly: true, kind: .describeInstances),
        API(source: "iam.amazonaws.com", name: "GetRole", readOnly: true, kind: .getRole),
        API(source: "secretsmanager.amazonaws.com", name: "GetSecretValue", readOnly: true, kind: .getSecretValue),
        API(source: "kms.amazonaws.com", name: "Decrypt", readOnly: true, kind: .decrypt),
        API(source: "kms.amazonaws.com", name: "Decrypt", readOnly: true, kind: .decrypt),
        API(source: "ssm.amazonaws.com", name: "GetParameter", readOnly: true, kind: .getParameter),
        API(source: "dynamodb.amazonaws.com", name: "DescribeTable", readOnly: true, kind: .describeTable),
        API(source: "lambda.amazonaws.com", name: "ListFunctions20150331", readOnly: true, kind: .listFunctions),
        API(source: "sts.amazonaws.com", name: "AssumeRole", readOnly: true, kind: .assumeRole),
        API(source: "s3.amazonaws.com", name: "PutBucketAcl", readOnly: false, kind: .putObjectAcl),
        API(source: "logs.amazonaws.com", name: "DescribeLogGroups", readOnly: true, kind: .describeLogGroups),
        API(source: "ec2.amazonaws.com", name: "RunInstances", readOnly: false, kind: .runInstances),
    ]
}

/// Appends compact JSON straight into bytes: generation must keep up with the detector it feeds.
struct JSONOut {
    var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// A JSON string with the escapes RFC 8259 requires.
    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            // Almost every string needs no escape: scan the contiguous bytes, then copy them in one go.
            var plain = true
            for b in utf8 where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                plain = false
                break
            }
            if plain { return bytes.append(contentsOf: utf8) }
            for b in utf8 {
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                    bytes.append(UInt8(ascii: "\\"))
                    bytes.append(b)
                case 0..<0x20:
                    let hex = Identifiers.hex
                    bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                              hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                default:
                    bytes.append(b)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `,"key":"value"` (the leading comma unless `first`).
    mutating func field(_ key: StaticString, _ value: String, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        raw(key)
        raw("\":")
        string(value)
    }

    mutating func key(_ key: StaticString) {
        bytes.append(UInt8(ascii: ","))
        bytes.append(UInt8(ascii: "\""))
        raw(key)
        raw("\":")
    }

    mutating func int(_ v: Int) { raw(String(v)) }
}

/// Renders one event in CloudTrail's own key order and shape.
enum EventRenderer {
    static let cipherSuites = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES128-GCM-SHA256"]

    static func render(_ spec: EventSpec, fields f: EventFields, principal p: Principal, eventID: String,
                       rng: inout SplitMix64) -> [UInt8] {
        var o = JSONOut(capacity: 2048)
        let api = EventCatalog.apis[spec.api]
        o.raw("{\"eventVersion\":\"1.09\",\"userIdentity\":{")
        o.field("type", f.identityType, first: true)
        if let v = f.principalId { o.field("principalId", v) }
        if let v = f.arn { o.field("arn", v) }
        o.field("accountId", f.accountId)
        if let v = f.accessKeyId { o.field("accessKeyId", v) }
        if let v = f.userName { o.field("userName", v) }
        if let v = p.invokedBy { o.field("invokedBy", v) }
        if f.identityType == "SAMLUser" { o.field("identityProvider", "arn:aws:iam::\(f.accountId):saml-provider/Okta") }
        if f.accessKeyId?.hasPrefix("ASIA") == true {
            o.key("sessionContext")
            o.raw("{")
            if let issuer = p.issuerArn {
                o.raw("\"sessionIssuer\":{")
                o.field("type", p.issuerType, first: true)
                o.field("principalId", p.issuerPrincipalId ?? "")
                o.field("arn", issuer)
                o.field("accountId", f.accountId)
                o.field("userName", p.issuerUserName ?? "")
                o.raw("},\"webIdFederationData\":{},")
            }
            o.raw("\"attributes\":{")
            o.field("creationDate", RFC3339.format(EventTime(secondsSinceEpoch: p.sessionCreated)), first: true)
            o.field("mfaAuthenticated", f.mfaAuthenticated == true ? "true" : "false")
            o.raw("}")
            if let v = f.sourceIdentity { o.field("sourceIdentity", v) }
            o.raw("}")
        }
        o.raw("}")
        o.field("eventTime", RFC3339.format(EventTime(secondsSinceEpoch: spec.eventTime)))
        o.field("eventSource", api.source)
        o.field("eventName", api.name)
        o.field("awsRegion", f.awsRegion)
        o.field("sourceIPAddress", f.sourceIPAddress)
        if let v = f.userAgent { o.field("userAgent", v) }
        if spec.failed {
            o.field("errorCode", "AccessDenied")
            o.field("errorMessage", "User: \(f.arn ?? f.accountId) is not authorized to perform: \(api.source.prefix { $0 != "." }):\(api.name) because no identity-based policy allows the \(api.source.prefix { $0 != "." }):\(api.name) action")
        }
        o.key("requestParameters")
        requestParameters(api.kind, f, &o, &rng)
        o.key("responseElements")
        if spec.failed { o.raw("null") } else { responseElements(api.kind, f, &o, &rng) }
        o.field("requestID", Identifiers.uuid(&rng))
        o.field("eventID", eventID)
        o.key("readOnly")
        o.raw(api.readOnly ? "true" : "false")
        if api.kind == .getSecretValue || api.kind == .decrypt {
            o.key("resources")
            o.raw("[{")
            o.field("accountId", f.accountId, first: true)
            o.field("type", api.kind == .decrypt ? "AWS::KMS::Key" : "AWS::SecretsManager::Secret")
            o.field("ARN", api.kind == .decrypt
                ? "arn:aws:kms:\(f.awsRegion):\(f.accountId):key/\(Identifiers.uuid(&rng))"
                : "arn:aws:secretsmanager:\(f.awsRegion):\(f.accountId):secret:prod/orders/db-\(Identifiers.base32(&rng, 6))")
            o.raw("}]")
        }
        o.field("eventType", "AwsApiCall")
        o.key("managementEvent")
        o.raw("true")
        o.field("recipientAccountId", f.accountId)
        o.field("eventCategory", "Management")
        if SourceAddress(parsing: f.sourceIPAddress).isAddress {
            o.key("tlsDetails")
            o.raw("{")
            o.field("tlsVersion", rng.chance(0.7) ? "TLSv1.3" : "TLSv1.2", first: true)
            o.field("cipherSuite", rng.pick(cipherSuites))
            o.field("clientProvidedHostHeader", api.source.hasPrefix("s3.") || api.source.hasPrefix("iam.")
                ? api.source : api.source.replacingFirstDot(with: ".\(f.awsRegion)."))
            o.raw("}")
        }
        if f.sessionCredentialFromConsole { o.field("sessionCredentialFromConsole", "true") }
        o.raw("}")
        return o.bytes
    }

    static func requestParameters(_ kind: EventCatalog.Kind, _ f: EventFields, _ o: inout JSONOut, _ rng: inout SplitMix64) {
        switch kind {
        case .none:
            o.raw("null")
        case .listBuckets:
            o.raw("{\"Host\":\"s3.amazonaws.com\"}")
        case .describeInstances:
            o.raw("{\"instancesSet\":{\"items\":[{\"instanceId\":\"i-0")
            o.raw(hex(&rng, 16))
            o.raw("\"}]},\"filterSet\":{\"items\":[{\"name\":\"instance-state-name\",\"valueSet\":{\"items\":[{\"value\":\"running\"}]}}]}}")
        case .getRole:
            o.raw("{")
            o.field("roleName", rng.pick(Population.roles), first: true)
            o.raw("}")
        case .getSecretValue:
            o.raw("{")
            o.field("secretId", "arn:aws:secretsmanager:\(f.awsRegion):\(f.accountId):secret:prod/orders/db-\(Identifiers.base32(&rng, 6))", first: true)
            o.raw("}")
        case .decrypt:
            o.raw("{\"encryptionAlgorithm\":\"SYMMETRIC_DEFAULT\",\"encryptionContext\":{\"aws:lambda:FunctionArn\":\"arn:aws:lambda:")
            o.raw(f.awsRegion)
            o.raw(":")
            o.raw(f.accountId)
            o.raw(":function:orders-api-prod\"}}")
        case .getParameter:
            o.raw("{")
            o.field("name", rng.pick(["/prod/orders/db/password", "/prod/payments/api-key", "/shared/datadog/api-key"]), first: true)
            o.raw(",\"withDecryption\":true}")
        case .describeTable:
            o.raw("{")
            o.field("tableName", rng.pick(["orders", "sessions", "inventory-events", "customers"]), first: true)
            o.raw("}")
        case .listFunctions:
            o.raw("{\"functionVersion\":\"ALL\",\"maxItems\":50}")
        case .assumeRole:
            o.raw("{")
            o.field("roleArn", "arn:aws:iam::\(f.accountId):role/\(rng.pick(Population.roles))", first: true)
            o.field("roleSessionName", "session-\(rng.below(1_000_000))")
            o.raw(",\"durationSeconds\":3600}")
        case .putObjectAcl:
            o.raw("{")
            o.field("bucketName", "acme-\(rng.pick(["logs", "artifacts", "exports"]))-\(f.accountId)", first: true)
            o.raw(",\"Host\":\"s3.amazonaws.com\",\"acl\":\"\"}")
        case .describeLogGroups:
            o.raw("{\"limit\":50,\"logGroupNamePrefix\":\"/aws/lambda/\"}")
        case .runInstances:
            o.raw("{\"instancesSet\":{\"items\":[{\"imageId\":\"ami-0")
            o.raw(hex(&rng, 16))
            o.raw("\",\"minCount\":1,\"maxCount\":1}]},\"instanceType\":\"")
            o.raw(rng.pick(["t3.micro", "m6i.large", "c7g.xlarge", "p4d.24xlarge"]))
            o.raw("\",\"blockDeviceMapping\":{},\"monitoring\":{\"enabled\":false},\"disableApiTermination\":false,\"disableApiStop\":false,\"clientToken\":\"")
            o.raw(Identifiers.uuid(&rng))
            o.raw("\"}")
        }
    }

    static func responseElements(_ kind: EventCatalog.Kind, _ f: EventFields, _ o: inout JSONOut, _ rng: inout SplitMix64) {
        switch kind {
        case .assumeRole:
            o.raw("{\"credentials\":{\"accessKeyId\":\"ASIA")
            o.raw(Identifiers.base32(&rng, 16))
            o.raw("\",\"sessionToken\":\"IQoJb3JpZ2luX2VjEXAMPLE")
            o.raw(Identifiers.base32(&rng, 40))
            o.raw("\",\"expiration\":\"Mar 2, 2026, 9:00:00 AM\"},\"assumedRoleUser\":{\"assumedRoleId\":\"AROA")
            o.raw(Identifiers.base32(&rng, 17))
            o.raw(":session\",\"arn\":\"arn:aws:sts::")
            o.raw(f.accountId)
            o.raw(":assumed-role/deploy/session\"}}")
        case .runInstances:
            o.raw("{\"requestId\":\"")
            o.raw(Identifiers.uuid(&rng))
            o.raw("\",\"reservationId\":\"r-0")
            o.raw(hex(&rng, 16))
            o.raw("\",\"ownerId\":\"")
            o.raw(f.accountId)
            o.raw("\",\"groupSet\":{},\"instancesSet\":{\"items\":[{\"instanceId\":\"i-0")
            o.raw(hex(&rng, 16))
            o.raw("\",\"currentState\":{\"code\":0,\"name\":\"pending\"},\"privateIpAddress\":\"10.0.")
            o.raw("\(rng.below(256)).\(1 + rng.below(254))")
            o.raw("\"}]}}")
        case .putObjectAcl:
            o.raw("null")
        default:
            o.raw("null")
        }
    }

    static func hex(_ rng: inout SplitMix64, _ count: Int) -> String {
        String(decoding: (0..<count).map { _ in Identifiers.hex[rng.below(16)] }, as: UTF8.self)
    }
}

extension String {
    /// `sts.amazonaws.com` → `sts.us-east-1.amazonaws.com` (regional endpoints in `tlsDetails`).
    func replacingFirstDot(with replacement: String) -> String {
        guard let dot = firstIndex(of: ".") else { return self }
        return String(self[..<dot]) + replacement + String(self[index(after: dot)...])
    }
}
