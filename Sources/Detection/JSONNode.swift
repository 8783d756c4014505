/// A JSON value built in memory, written with keys sorted at every level, so that the OCSF and ECS
/// records, like the native one, are equal bytes for equal alerts.
enum JSONNode: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
               ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    case string(String)
    case int(Int)
    case bool(Bool)
    case array([JSONNode])
    case object([String: JSONNode])

    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int) { self = .int(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(arrayLiteral elements: JSONNode...) { self = .array(elements) }
    init(dictionaryLiteral elements: (String, JSONNode)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }

    static func strings(_ values: [String]) -> JSONNode { .array(values.map(JSONNode.string)) }

    func write(to w: inout JSONWriter) {
        switch self {
        case .string(let s): w.string(s)
        case .int(let n): w.number(n)
        case .bool(let b): w.bool(b)
        case .array(let items): w.array { w in for item in items { item.write(to: &w) } }
        case .object(let members):
            w.object { w in
                for key in members.keys.sorted() {
                    w.key(key)
                    members[key]!.write(to: &w)
                }
            }
        }
    }

    var bytes: [UInt8] {
        var w = JSONWriter()
        write(to: &w)
        return w.bytes
    }
}

/// Builds an object, leaving out members whose value is nil.
struct JSONObject {
    private(set) var members: [String: JSONNode] = [:]

    subscript(key: String) -> JSONNode? {
        get { members[key] }
        set { members[key] = newValue }
    }

    var node: JSONNode { .object(members) }
}
