internal import Foundation
internal import CertVaultVB365

/// One request the simulator received, with secrets redacted (passwords, tokens, the PFX), and
/// its answer: for assertions in tests and for the spec-conformance check.
public struct SimulatorExchange: Sendable, Codable {
    public let method: String
    /// The path with its query, as sent.
    public let path: String
    public let status: Int
    /// `application/json`, `application/x-www-form-urlencoded` or nil.
    public let requestContentType: String?
    /// The request body as JSON (a form body as an object of strings), secrets replaced.
    public let requestBody: JSONValue?
    /// The response body as JSON, or nil when there was none.
    public let responseBody: JSONValue?
    /// What the simulator did besides answering (`dropped`, `delayed`, `injected-fault`).
    public let note: String?
}

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

/// A device code the simulator handed out.
struct SimulatedDeviceCode {
    let code: String
    let region: VB365Region
    let expiresAt: Date
    var signedIn: Bool
    var used: Bool
}

/// An organization as the simulator keeps it.
struct StoredOrganization: Codable {
    var organization: VB365Organization
    /// SHA-1 thumbprint of the certificate last accepted.
    var thumbprint: String
    /// How many certificates it has been given (1 after POST, +1 per PUT with a certificate).
    var certificateGenerations: Int
}

/// What the control surface asked for, per endpoint.
struct Fault {
    enum Kind: Equatable {
        case status(Int)
        case dropAfterProcessing
        case truncateAfterProcessing
        case malformedResponse
        case oversizedResponse(Int)
        /// Answers this status and these exact bytes (a hostile server: huge numbers, escapes).
        case rawResponse(Int, [UInt8])
        /// Answers this status with a `RESTExceptionInfo` whose message is the request body as
        /// received (a server that echoes secrets back).
        case echoRequest(Int)
        /// `GET Organizations` (v8): a full page every time, never the end; `repeating` answers
        /// the first page again and again, otherwise each page is new.
        case endlessPages(repeating: Bool)
    }
    let kind: Kind
    var remaining: Int
}
