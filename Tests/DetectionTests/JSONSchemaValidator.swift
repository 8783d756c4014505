// A small JSON parser and a JSON Schema (draft 2020-12) validator for the keywords
// schema/alert.schema.json uses. No validator exists among the packages we may use; CI also checks
// the schema itself with check-jsonschema. An unknown keyword is an error, never silently skipped.

import Foundation

indirect enum JSON: Equatable {
    case object([(String, JSON)])
    case array([JSON])
    case string(String)
    case number(Double, isInteger: Bool)
    case bool(Bool)
    case null

    static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.array(let x), .array(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.number(let x, _), .number(let y, _)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.null, .null): true
        default: false
        }
    }

    subscript(_ key: String) -> JSON? {
        if case .object(let members) = self { return members.first { $0.0 == key }?.1 }
        return nil
    }

    var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    var intValue: Int? { if case .number(let d, true) = self { Int(d) } else { nil } }
    var arrayValue: [JSON]? { if case .array(let a) = self { a } else { nil } }
}

struct JSONParseError: Error, CustomStringConvertible {
    var description: String
}

/// Strict RFC 8259 parsing (no trailing commas, no leading zeros), keeping object key order.
struct JSONParser {
    private let bytes: [UInt8]
    private var i = 0

    static func parse(_ bytes: [UInt8]) throws -> JSON {
        var parser = JSONParser(bytes: bytes)
        let value = try parser.value()
        parser.skipSpace()
        guard parser.i == bytes.count else { throw JSONParseError(description: "trailing bytes at \(parser.i)") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private mutating func skipSpace() {
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    }

    private func fail(_ what: String) -> JSONParseError { JSONParseError(description: "\(what) at \(i)") }

    private mutating func expect(_ literal: String) throws {
        for b in literal.utf8 {
            guard i < bytes.count, bytes[i] == b else { throw fail("expected \(literal)") }
            i += 1
        }
    }

    private mutating func value() throws -> JSON {
        skipSpace()
        guard i < bytes.count else { throw fail("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members: [(String, JSON)] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipSpace()
                guard case .string(let key) = try value() else { throw fail("object key") }
                skipSpace()
                try expect(":")
                members.append((key, try value()))
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                try expect("}")
                return .object(members)
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSON] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                items.append(try value())
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                try expect("]")
                return .array(items)
            }
        case UInt8(ascii: "\""):
            i += 1
            var out: [UInt8] = []
            while true {
                guard i < bytes.count else { throw fail("unterminated string") }
                let b = bytes[i]
                i += 1
                if b == UInt8(ascii: "\"") { break }
                guard b >= 0x20 else { throw fail("control character in string") }
                if b != UInt8(ascii: "\\") { out.append(b); continue }
                guard i < bytes.count else { throw fail("escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    guard i + 4 <= bytes.count,
                          let code = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16),
                          let scalar = Unicode.Scalar(code) else { throw fail("\\u escape") }
                    i += 4
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: throw fail("escape")
                }
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8") }
            return .string(s)
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        default:
            let start = i
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            let digitsStart = i
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
            guard i > digitsStart, !(bytes[digitsStart] == 0x30 && i - digitsStart > 1) else { throw fail("number") }
            var isInteger = true
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                isInteger = false
                i += 1
                while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
            }
            if i < bytes.count, bytes[i] | 0x20 == UInt8(ascii: "e") {
                isInteger = false
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
            }
            guard let d = Double(String(decoding: bytes[start..<i], as: UTF8.self)) else { throw fail("number") }
            return .number(d, isInteger: isInteger)
        }
    }
}

/// Validates against the subset of draft 2020-12 used by our schema: $schema, $id, $defs, $ref
/// (local `#/$defs/...`), title, description, type, properties, required, additionalProperties
/// (boolean), oneOf, items, enum, const, minimum, minItems, maxItems, uniqueItems, minLength, pattern, format
/// (annotation only, as in 2020-12 by default).
struct JSONSchemaValidator {
    let root: JSON
    /// Compiled once: compiling a pattern per string dominated the suite's time.
    private let patterns: [String: NSRegularExpression]

    init(schema: JSON) throws {
        root = schema
        var found: [String: NSRegularExpression] = [:]
        func collect(_ node: JSON) throws {
            switch node {
            case .object(let members):
                for (key, value) in members {
                    if key == "pattern", let p = value.stringValue { found[p] = try NSRegularExpression(pattern: p) }
                    try collect(value)
                }
            case .array(let items): try items.forEach(collect)
            default: break
            }
        }
        try collect(schema)
        patterns = found
    }

    init(contentsOf url: URL) throws {
        try self.init(schema: try JSONParser.parse(Array(try Data(contentsOf: url))))
    }

    /// Error messages, empty when `instance` is valid.
    func validate(_ instance: JSON) -> [String] {
        var errors: [String] = []
        check(instance, against: root, path: "$", errors: &errors)
        return errors
    }

    private static let annotations: Set<String> = ["$schema", "$id", "$defs", "title", "description", "format", "$comment"]

    private func check(_ value: JSON, against schema: JSON, path: String, errors: inout [String]) {
        if case .bool(let allowed) = schema {
            if !allowed { errors.append("\(path): not allowed") }
            return
        }
        guard case .object(let keywords) = schema else {
            errors.append("\(path): schema is not an object")
            return
        }
        for (keyword, argument) in keywords {
            switch keyword {
            case _ where Self.annotations.contains(keyword):
                continue
            case "$ref":
                guard let ref = argument.stringValue, ref.hasPrefix("#/$defs/"),
                      let target = root["$defs"]?[String(ref.dropFirst("#/$defs/".count))] else {
                    errors.append("\(path): unresolvable $ref")
                    continue
                }
                check(value, against: target, path: path, errors: &errors)
            case "oneOf":
                let passing = (argument.arrayValue ?? []).filter { subschema in
                    var sub: [String] = []
                    check(value, against: subschema, path: path, errors: &sub)
                    return sub.isEmpty
                }
                if passing.count != 1 { errors.append("\(path): matches \(passing.count) of oneOf, not 1") }
            case "type":
                let types = argument.arrayValue?.compactMap(\.stringValue) ?? [argument.stringValue ?? ""]
                if !types.contains(where: { Self.matches(value, type: $0) }) {
                    errors.append("\(path): expected \(types)")
                }
            case "properties":
                guard case .object(let properties) = argument, case .object(let members) = value else { continue }
                for (name, subschema) in properties {
                    if let member = members.first(where: { $0.0 == name }) {
                        check(member.1, against: subschema, path: "\(path).\(name)", errors: &errors)
                    }
                }
            case "required":
                guard case .object(let members) = value else { continue }
                for name in argument.arrayValue?.compactMap(\.stringValue) ?? []
                where !members.contains(where: { $0.0 == name }) {
                    errors.append("\(path): missing \(name)")
                }
            case "additionalProperties":
                guard case .object(let members) = value else { continue }
                var declared: Set<String> = []
                if case .object(let properties)? = schema["properties"] { declared = Set(properties.map { $0.0 }) }
                for (name, member) in members where !declared.contains(name) {
                    check(member, against: argument, path: "\(path).\(name)", errors: &errors)
                }
            case "items":
                guard case .array(let items) = value else { continue }
                for (index, item) in items.enumerated() {
                    check(item, against: argument, path: "\(path)[\(index)]", errors: &errors)
                }
            case "enum":
                if !(argument.arrayValue ?? []).contains(value) { errors.append("\(path): not in enum") }
            case "const":
                if argument != value { errors.append("\(path): not const") }
            case "minimum":
                if case .number(let n, _) = value, case .number(let min, _) = argument, n < min {
                    errors.append("\(path): below minimum")
                }
            case "minItems", "maxItems":
                if case .array(let items) = value, let bound = argument.intValue,
                   keyword == "minItems" ? items.count < bound : items.count > bound {
                    errors.append("\(path): \(keyword)")
                }
            case "uniqueItems":
                if case .array(let items) = value, argument == .bool(true) {
                    for (a, x) in items.enumerated() where items[(a + 1)...].contains(x) {
                        errors.append("\(path): duplicate items")
                        break
                    }
                }
            case "minLength":
                if case .string(let s) = value, let bound = argument.intValue, s.count < bound {
                    errors.append("\(path): shorter than \(bound)")
                }
            case "pattern":
                if case .string(let s) = value, let pattern = argument.stringValue,
                   patterns[pattern]?.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) == nil {
                    errors.append("\(path): \(s) !~ \(pattern)")
                }
            default:
                errors.append("\(path): validator does not know keyword \(keyword)")
            }
        }
    }

    private static func matches(_ value: JSON, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null),
             ("number", .number): true
        case ("integer", .number(let d, _)): d.rounded() == d
        default: false
        }
    }
}
