import Foundation

/// The effective configuration as text, secrets masked: `check-config`'s output, and readable
/// back by the loader (a test keeps the two in step).
public enum EffectiveConfiguration {
    public enum Format: String, Sendable, CaseIterable {
        case yaml, json
    }

    /// With `sources`, each YAML line that is not a default says where its value came from.
    public static func render(_ settings: TokentrailSettings, format: Format, sources: [String: ConfigSource] = [:]) -> String {
        switch format {
        case .yaml: return yaml(settings, sources: sources)
        case .json: return json(settings)
        }
    }

    /// Sections in order, each with its keys; the kafka map first, sorted, masked.
    static func grouped(_ settings: TokentrailSettings) -> [(section: String, entries: [(String, RenderedValue)])] {
        let keys = ConfigSchema.keys
        var out: [(String, [(String, RenderedValue)])] = []
        let kafka = SecretMasking.masked(settings.kafka).sorted { $0.key < $1.key }.map { ($0.key, RenderedValue.string($0.value)) }
        out.append(("kafka", kafka))
        for section in ConfigSchema.sections {
            out.append((section, keys.filter { $0.section == section }.map { ($0.leaf, $0.render(settings)) }))
        }
        return out
    }

    static func yaml(_ settings: TokentrailSettings, sources: [String: ConfigSource]) -> String {
        var lines = ["# tokentrail effective configuration (secrets masked)"]
        for (section, entries) in grouped(settings) {
            let depth = section.isEmpty ? 0 : section.split(separator: ".").count
            if !section.isEmpty {
                let indent = String(repeating: "  ", count: depth - 1)
                lines.append("\(indent)\(section.split(separator: ".").last!):")
            }
            let indent = String(repeating: "  ", count: depth)
            for (k, v) in entries {
                let source = sources[section.isEmpty ? k : "\(section).\(k)"].map { "  # \($0)" } ?? ""
                lines.append("\(indent)\(k): \(scalarText(v))\(source)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// JSON string literals are valid YAML too, which keeps quoting rules in one place.
    static func scalarText(_ v: RenderedValue) -> String {
        switch v {
        case .string(let s): return quote(s)
        case .number(let n): return String(n)
        case .bool(let b): return b ? "true" : "false"
        case .list(let l): return "[" + l.map(quote).joined(separator: ", ") + "]"
        case .null: return "null"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    static func json(_ settings: TokentrailSettings) -> String {
        // Build a nested tree in order, then print it.
        let root = JSONObject()
        for (section, entries) in grouped(settings) {
            var target = root
            if !section.isEmpty {
                for part in section.split(separator: ".") { target = target.child(String(part)) }
            }
            for (k, v) in entries { target.fields.append((k, .value(v))) }
        }
        func write(_ o: JSONObject, _ depth: Int) -> String {
            let pad = String(repeating: "  ", count: depth + 1)
            let items = o.fields.map { name, e -> String in
                switch e {
                case .value(let v): return "\(pad)\(quote(name)): \(scalarText(v))"
                case .object(let c): return "\(pad)\(quote(name)): \(write(c, depth + 1))"
                }
            }
            return items.isEmpty ? "{}" : "{\n" + items.joined(separator: ",\n") + "\n" + String(repeating: "  ", count: depth) + "}"
        }
        return write(root, 0) + "\n"
    }
}

/// An ordered JSON object under construction (`EffectiveConfiguration.json`).
private final class JSONObject {
    var fields: [(String, JSONField)] = []

    func child(_ name: String) -> JSONObject {
        if let (_, e) = fields.first(where: { $0.0 == name }), case .object(let o) = e { return o }
        let o = JSONObject()
        fields.append((name, .object(o)))
        return o
    }
}

private enum JSONField {
    case value(RenderedValue)
    case object(JSONObject)
}
