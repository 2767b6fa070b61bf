internal import Foundation

/// A JSON value, for recording bodies without knowing their schema.
public indirect enum JSONValue: Sendable, Codable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value == value.rounded(), abs(value) < 1e15 { try container.encode(Int64(value)) } else { try container.encode(value) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The value at a key of an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    /// The string, if this is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// Parses bytes; nil when they are not JSON.
    public static func parse(_ bytes: [UInt8]) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    /// Replaces secret fields (`applicationCertificatePassword`, `password`,
    /// `applicationSecret`, `refresh_token`, `access_token`, the PFX) by markers of the same type.
    public func redacted() -> JSONValue {
        switch self {
        case .object(let object):
            var out: [String: JSONValue] = [:]
            for (key, value) in object {
                switch key {
                case "applicationCertificatePassword", "password", "applicationSecret", "refresh_token", "access_token", "assertion":
                    out[key] = value == .null ? .null : .string("<redacted>")
                case "applicationCertificate":
                    if case .string(let text) = value { out[key] = .string("<pfx, \(text.count) base64 characters>") } else { out[key] = value }
                default:
                    out[key] = value.redacted()
                }
            }
            return .object(out)
        case .array(let array): return .array(array.map { $0.redacted() })
        default: return self
        }
    }
}
