public import CertVaultCore
internal import Foundation

// Request and response bodies of the calls onboarding makes, with the exact field names of the
// official OpenAPI descriptions (schemas named in each comment). Decoding ignores fields it does
// not know, so newer servers still parse.

/// `RestOrganizationRegion` (also `targetRegion`): the Microsoft cloud of the tenant. British "Defence".
public enum VB365Region: String, Codable, CaseIterable, Sendable {
    case worldwide = "Worldwide"
    case germany = "Germany"
    case china = "China"
    case usDefence = "USDefence"
    case usGovernment = "USGovernment"
}

/// `RestOrganizationType`. Microsoft 365 is `Office365`; there is no `Microsoft365` value.
public enum VB365OrganizationType: String, Codable, CaseIterable, Sendable {
    case office365 = "Office365"
    case onPremises = "OnPremises"
    case hybrid = "Hybrid"
}

/// A secret string inside a JSON body (`applicationCertificatePassword`, `SecureString` in the
/// specs). Held in secure memory.
///
/// ``VB365Client`` never lets it become a Swift `String`: it encodes bodies with a
/// ``VB365SecretCollector`` in the encoder's `userInfo`, which takes the secret's bytes and leaves
/// a placeholder in the encoder's output; the body is then assembled in secure memory
/// (``VB365JSONBody``). A plain `JSONEncoder` without a collector still gets the text (the
/// simulator and tests), through a `String` that cannot be wiped.
public struct VB365Secret: Codable, Sendable, CustomStringConvertible {
    public let bytes: SecretBytes

    public init(_ bytes: SecretBytes) { self.bytes = bytes }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        bytes = Array(text.utf8).withUnsafeBytes { SecretBytes(copying: $0) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let collector = encoder.userInfo[VB365SecretCollector.key] as? VB365SecretCollector {
            try container.encode(collector.placeholder(for: bytes))
        } else {
            try container.encode(bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
        }
    }

    public var description: String { "<redacted>" }
}

/// Collects the secrets of a body while `JSONEncoder` encodes it, leaving a placeholder string
/// (`@@certvault-secret-N-NONCE@@`) in their place, so that the encoder never holds them.
public final class VB365SecretCollector: @unchecked Sendable {
    // Safety: used by one encoding on one thread at a time.
    /// The `userInfo` key under which encoders find the collector.
    public static let key = CodingUserInfoKey(rawValue: "certvault.secretCollector")!
    private(set) var secrets: [SecretBytes] = []
    let nonce: String = (0..<4).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }.joined()

    public init() {}

    func placeholder(for secret: SecretBytes) -> String {
        secrets.append(secret)
        return "@@certvault-secret-\(secrets.count - 1)-\(nonce)@@"
    }
}

/// A JSON request body assembled in secure memory: the encoder's output with each placeholder
/// replaced by its secret, escaped as a JSON string's content.
public enum VB365JSONBody {
    /// Encodes `value` (sorted keys, slashes unescaped) into secure memory.
    public static func encode(_ value: some Encodable) throws -> SecretBytes { try encodeCollecting(value).body }

    /// Encodes `value` into secure memory, and returns the secrets it holds as well (to scrub
    /// them from whatever the server says back).
    public static func encodeCollecting(_ value: any Encodable) throws -> (body: SecretBytes, secrets: [SecretBytes]) {
        let collector = VB365SecretCollector()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.userInfo[VB365SecretCollector.key] = collector
        let skeleton = Array(try encoder.encode(value))
        guard !collector.secrets.isEmpty else { return (skeleton.withUnsafeBytes { SecretBytes(copying: $0) }, []) }
        // Find the placeholders: (offset, length, secret index).
        var pieces: [(start: Int, end: Int, index: Int)] = []
        let prefix = Array("@@certvault-secret-".utf8)
        let suffix = Array("-\(collector.nonce)@@".utf8)
        var position = 0
        while position + prefix.count <= skeleton.count {
            guard skeleton[position] == UInt8(ascii: "@"), Array(skeleton[position..<(position + prefix.count)]) == prefix else {
                position += 1
                continue
            }
            var cursor = position + prefix.count
            var index = 0
            while cursor < skeleton.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(skeleton[cursor]) {
                index = index * 10 + Int(skeleton[cursor] - UInt8(ascii: "0"))
                cursor += 1
            }
            guard cursor + suffix.count <= skeleton.count, Array(skeleton[cursor..<(cursor + suffix.count)]) == suffix,
                  index < collector.secrets.count else {
                position += 1
                continue
            }
            pieces.append((position, cursor + suffix.count, index))
            position = cursor + suffix.count
        }
        var total = skeleton.count
        for piece in pieces {
            total += collector.secrets[piece.index].withUnsafeBytes { escapedLength($0) } - (piece.end - piece.start)
        }
        let body = SecretBytes(count: total) { target in
            var out = 0
            var from = 0
            func put(_ byte: UInt8) {
                target[out] = byte
                out += 1
            }
            for piece in pieces {
                for byte in skeleton[from..<piece.start] { put(byte) }
                collector.secrets[piece.index].withUnsafeBytes { escape($0, put) }
                from = piece.end
            }
            for byte in skeleton[from...] { put(byte) }
        }
        return (body, collector.secrets)
    }

    /// The length of `bytes` escaped as the content of a JSON string.
    static func escapedLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        var length = 0
        escape(bytes) { _ in length += 1 }
        return length
    }

    /// Escapes `"`, `\\` and control characters; everything else (UTF-8 included) as it is.
    static func escape(_ bytes: UnsafeRawBufferPointer, _ put: (UInt8) -> Void) {
        let hex = Array("0123456789abcdef".utf8)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                put(UInt8(ascii: "\\"))
                put(byte)
            case 0..<0x20:
                for character in Array("\\u00".utf8) { put(character) }
                put(hex[Int(byte >> 4)])
                put(hex[Int(byte & 0xF)])
            default:
                put(byte)
            }
        }
    }
}

/// A number or string in an answer that is outside what the API can mean (an `expiresIn` of
/// centuries, a negative count, a user code with markup in it): a protocol error naming the field.
public struct VB365ValueOutOfRange: Error, Sendable, CustomStringConvertible {
    /// The JSON field.
    public let field: String
    /// What was received, escaped and cut short.
    public let value: String
    /// What is accepted.
    public let expected: String

    public init(field: String, value: String, expected: String) {
        self.field = field
        self.value = DisplayText.escapingControls(value, limit: 40)
        self.expected = expected
    }

    public var description: String { "'\(field)' is \(value); expected \(expected)" }
}

/// The limits applied to numbers and strings in VB365's answers.
public enum VB365Limits {
    /// A device code lives minutes (Microsoft's: 900 s); a day is the most accepted.
    public static let deviceCodeLifetime: ClosedRange<Int> = 1...86_400
    /// An access token lives an hour by default; 30 days is the most accepted.
    public static let tokenLifetime: ClosedRange<Int> = 1...2_592_000
    /// `offset` and `limit` of a page of organizations.
    public static let pageOffset: ClosedRange<Int> = 0...10_000_000
    public static let pageLimit: ClosedRange<Int> = 0...100_000
    /// The longest server text kept in a record or shown (error messages, device-code message).
    public static let serverText = 500
    /// The longest short server string kept (a version, an error code, an installation id).
    public static let shortServerText = 100

    /// Decodes an integer field and checks its range; a number that is not an integer Swift
    /// can hold (1e300, 2.5) is out of range too, named by its field.
    static func integer<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key, _ range: ClosedRange<Int>, unit: String) throws -> Int {
        let value: Int
        do {
            value = try container.decode(Int.self, forKey: key)
        } catch {
            // Foundation reports a number too large for Int with an error of its own type.
            guard let number = try? container.decode(Double.self, forKey: key) else { throw error }
            throw VB365ValueOutOfRange(field: key.stringValue, value: String(number),
                                       expected: "an integer from \(range.lowerBound) to \(range.upperBound)" + (unit.isEmpty ? "" : " \(unit)"))
        }
        return try check(value, range, key, unit: unit)
    }

    static func check<Key: CodingKey>(_ value: Int, _ range: ClosedRange<Int>, _ key: Key, unit: String) throws -> Int {
        guard range.contains(value) else {
            throw VB365ValueOutOfRange(field: key.stringValue, value: String(value), expected: "\(range.lowerBound) to \(range.upperBound)" + (unit.isEmpty ? "" : " \(unit)"))
        }
        return value
    }

    /// A Microsoft user code: 4 to 32 letters and digits (Microsoft's are 9, such as `GA6KZ8P3N`).
    static func checkUserCode<Key: CodingKey>(_ value: String, _ key: Key) throws -> String {
        guard (4...32).contains(value.utf8.count),
              value.utf8.allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                  || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            throw VB365ValueOutOfRange(field: key.stringValue, value: value, expected: "4 to 32 letters and digits")
        }
        return value
    }
}

/// `OAuthTokenResponse`: the answer to `POST /vN/token`.
public struct VB365TokenResponse: Codable, Sendable {
    public var accessToken: String
    public var refreshToken: String
    public var tokenType: String
    /// Seconds until the access token expires.
    public var expiresIn: Int
    /// Required in v6 and v7, optional in v8.
    public var userName: String?
    public var issued: String
    public var expires: String

    enum CodingKeys: String, CodingKey {
        case accessToken = "access_token", refreshToken = "refresh_token", tokenType = "token_type", expiresIn = "expires_in"
        case userName, issued = ".issued", expires = ".expires"
    }

    public init(accessToken: String, refreshToken: String, tokenType: String, expiresIn: Int, userName: String?, issued: String, expires: String) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.tokenType = tokenType
        self.expiresIn = expiresIn
        self.userName = userName
        self.issued = issued
        self.expires = expires
    }

    /// Decodes and range-checks `expires_in` (1 s to 30 days).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        accessToken = try container.decode(String.self, forKey: .accessToken)
        refreshToken = try container.decode(String.self, forKey: .refreshToken)
        tokenType = try container.decode(String.self, forKey: .tokenType)
        expiresIn = try VB365Limits.integer(container, .expiresIn, VB365Limits.tokenLifetime, unit: "seconds")
        userName = try container.decodeIfPresent(String.self, forKey: .userName)
        issued = try container.decode(String.self, forKey: .issued)
        expires = try container.decode(String.self, forKey: .expires)
    }
}

/// `RESTCommonDeviceCodeRequestOptions`: the body of `POST /vN/DeviceCode`.
public struct VB365DeviceCodeRequest: Codable, Sendable {
    public var targetRegion: VB365Region?
    /// v8 only; onboarding does not send it.
    public var loginGraphAppOrganizationId: String?

    public init(targetRegion: VB365Region?, loginGraphAppOrganizationId: String? = nil) {
        self.targetRegion = targetRegion
        self.loginGraphAppOrganizationId = loginGraphAppOrganizationId
    }
}

/// `RESTDeviceCodeResponse`: a Microsoft user code for the customer's Global Administrator.
public struct VB365DeviceCode: Codable, Sendable, Hashable {
    public var userCode: String
    public var verificationUrl: String
    /// Seconds the code stays valid (about 900).
    public var expiresIn: Int
    public var message: String

    public init(userCode: String, verificationUrl: String, expiresIn: Int, message: String) {
        self.userCode = userCode
        self.verificationUrl = verificationUrl
        self.expiresIn = expiresIn
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case userCode, verificationUrl, expiresIn, message
    }

    /// Decodes strictly: `userCode` is letters and digits, `expiresIn` 1 s to a day, `message`
    /// has its control characters escaped and is cut short. (`verificationUrl` is checked
    /// against the device-login hosts by ``VB365Client``.)
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        userCode = try VB365Limits.checkUserCode(try container.decode(String.self, forKey: .userCode), CodingKeys.userCode)
        verificationUrl = try container.decode(String.self, forKey: .verificationUrl)
        expiresIn = try VB365Limits.integer(container, .expiresIn, VB365Limits.deviceCodeLifetime, unit: "seconds")
        message = DisplayText.escapingControls(try container.decode(String.self, forKey: .message), limit: VB365Limits.serverText)
    }
}

/// `RESTCheckDeviceCode`.
public struct VB365DeviceCodeCheckRequest: Codable, Sendable {
    public var userCode: String
    public init(userCode: String) { self.userCode = userCode }
}

/// `RESTDeviceCodeCheckResponse`.
public struct VB365DeviceCodeCheck: Codable, Sendable {
    public var authenticated: Bool
    public init(authenticated: Bool) { self.authenticated = authenticated }
}

/// `RESTServiceInstance`.
public struct VB365ServiceInstance: Codable, Sendable {
    public var installationId: String?
    public var version: String?
    public init(installationId: String?, version: String?) {
        self.installationId = installationId
        self.version = version
    }

    enum CodingKeys: String, CodingKey { case installationId, version }

    /// Decodes with control characters escaped and both strings cut short: they are shown.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        installationId = try container.decodeIfPresent(String.self, forKey: .installationId).map {
            DisplayText.escapingControls($0, limit: VB365Limits.shortServerText)
        }
        version = try container.decodeIfPresent(String.self, forKey: .version).map {
            DisplayText.escapingControls($0, limit: VB365Limits.shortServerText)
        }
    }
}

/// `RESTLinkHAL`.
public struct VB365Link: Codable, Sendable, Hashable {
    public var href: String?
    public init(href: String?) { self.href = href }
}

/// `RESTOffice365ConnectionSettings`: `exchangeOnlineSettings` and `sharePointOnlineSettings`.
public struct VB365ConnectionSettings: Codable, Sendable {
    public var useApplicationOnlyAuth: Bool?
    public var officeOrganizationName: String?
    public var account: String?
    public var grantAdminAccess: Bool?
    public var useMfa: Bool?
    public var useCustomVeeamAADApplication: Bool?
    public var sharePointSaveAllWebParts: Bool?
    /// The Entra application; VB365 returns it after creating one.
    public var applicationId: String?
    /// Base64 of the PFX. Sent, never returned.
    public var applicationCertificate: String?
    /// The PFX password. Sent, never returned.
    public var applicationCertificatePassword: VB365Secret?
    /// SHA-1 of the certificate, upper-case hex, as VB365 reports it.
    public var applicationCertificateThumbprint: String?

    public init(useApplicationOnlyAuth: Bool? = nil, officeOrganizationName: String? = nil, applicationId: String? = nil,
                applicationCertificate: String? = nil, applicationCertificatePassword: VB365Secret? = nil,
                applicationCertificateThumbprint: String? = nil) {
        self.useApplicationOnlyAuth = useApplicationOnlyAuth
        self.officeOrganizationName = officeOrganizationName
        self.applicationId = applicationId
        self.applicationCertificate = applicationCertificate
        self.applicationCertificatePassword = applicationCertificatePassword
        self.applicationCertificateThumbprint = applicationCertificateThumbprint
    }
}

/// `RestOrganizationComposed`: the body of `POST`/`PUT Organizations` and what `GET` returns.
public struct VB365Organization: Codable, Sendable {
    /// Set by VB365.
    public var id: String?
    public var name: String?
    public var officeName: String?
    public var description: String?
    public var type: VB365OrganizationType?
    public var region: VB365Region?
    public var isExchangeOnline: Bool?
    public var isSharePointOnline: Bool?
    public var isTeamsOnline: Bool?
    public var isTeamsChatsOnline: Bool?
    /// The device code the customer signed in with.
    public var userCode: String?
    /// The Entra application VB365 creates for the new organization.
    public var newApplicationName: String?
    /// With an existing application: let VB365 register the certificate (needs `userCode`).
    public var configureApplication: Bool?
    public var exchangeOnlineSettings: VB365ConnectionSettings?
    public var sharePointOnlineSettings: VB365ConnectionSettings?
    /// The Microsoft tenant id (v8).
    public var msid: String?
    public var isBackedup: Bool?
    public var links: [String: VB365Link]?

    enum CodingKeys: String, CodingKey {
        case id, name, officeName, description, type, region, isExchangeOnline, isSharePointOnline, isTeamsOnline, isTeamsChatsOnline
        case userCode, newApplicationName, configureApplication, exchangeOnlineSettings, sharePointOnlineSettings, msid, isBackedup
        case links = "_links"
    }

    public init(id: String? = nil, name: String? = nil, officeName: String? = nil, type: VB365OrganizationType? = nil,
                region: VB365Region? = nil) {
        self.id = id
        self.name = name
        self.officeName = officeName
        self.type = type
        self.region = region
    }

    /// The body that adds a Microsoft 365 organization with a new Entra application that uses
    /// our certificate (app-only authentication): what onboarding sends.
    public static func newOffice365(officeName: String, region: VB365Region, userCode: String, applicationName: String,
                                    certificateBase64: String, password: SecretBytes,
                                    exchange: Bool = true, sharePoint: Bool = true, teams: Bool = true, teamsChats: Bool = false) -> VB365Organization {
        var organization = VB365Organization(officeName: officeName, type: .office365, region: region)
        organization.isExchangeOnline = exchange
        organization.isSharePointOnline = sharePoint
        organization.isTeamsOnline = teams
        organization.isTeamsChatsOnline = teamsChats
        organization.userCode = userCode
        organization.newApplicationName = applicationName
        let settings = VB365ConnectionSettings(useApplicationOnlyAuth: true, officeOrganizationName: officeName,
                                               applicationCertificate: certificateBase64,
                                               applicationCertificatePassword: VB365Secret(password))
        organization.exchangeOnlineSettings = settings
        organization.sharePointOnlineSettings = settings
        return organization
    }

    /// The organization as received, with the strings people are shown (`name`, `officeName`,
    /// `description`) escaped and cut to 256 characters: ``VB365Client`` returns organizations
    /// this way.
    public func escapedForDisplay() -> VB365Organization {
        var copy = self
        copy.name = name.map { DisplayText.escapingControls($0, limit: 256) }
        copy.officeName = officeName.map { DisplayText.escapingControls($0, limit: 256) }
        copy.description = description.map { DisplayText.escapingControls($0, limit: 256) }
        return copy
    }

    /// The Entra application id VB365 reports (from either settings object).
    public var applicationId: String? { exchangeOnlineSettings?.applicationId ?? sharePointOnlineSettings?.applicationId }

    /// The certificate thumbprint VB365 reports.
    public var applicationCertificateThumbprint: String? {
        exchangeOnlineSettings?.applicationCertificateThumbprint ?? sharePointOnlineSettings?.applicationCertificateThumbprint
    }
}

/// `PageOfRestOrganizationComposed` (v8).
public struct VB365OrganizationPage: Codable, Sendable {
    public var offset: Int
    public var limit: Int
    public var setId: String?
    public var results: [VB365Organization]
    public var links: [String: VB365Link]?

    enum CodingKeys: String, CodingKey {
        case offset, limit, setId, results
        case links = "_links"
    }

    public init(offset: Int, limit: Int, setId: String?, results: [VB365Organization], links: [String: VB365Link]?) {
        self.offset = offset
        self.limit = limit
        self.setId = setId
        self.results = results
        self.links = links
    }

    /// Decodes and range-checks `offset` and `limit`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        offset = try VB365Limits.integer(container, .offset, VB365Limits.pageOffset, unit: "")
        limit = try VB365Limits.integer(container, .limit, VB365Limits.pageLimit, unit: "")
        setId = try container.decodeIfPresent(String.self, forKey: .setId)
        results = try container.decode([VB365Organization].self, forKey: .results)
        links = try container.decodeIfPresent([String: VB365Link].self, forKey: .links)
    }
}

/// `RESTExceptionInfo`, the body of every error answer; also reads OAuth-style errors
/// (`error`, `error_description`) that some servers give for the token call.
public struct VB365ErrorBody: Codable, Sendable {
    public var message: String?
    /// An open set: v7 knows `ProxyOffline`, v8 adds `ResourceNotFound`, `ParameterValidationFailure`...
    public var errorCode: String?
    public var stackTrace: String?
    public var error: String?
    public var errorDescription: String?

    enum CodingKeys: String, CodingKey {
        case message, errorCode, stackTrace, error
        case errorDescription = "error_description"
    }

    public init(message: String?, errorCode: String? = nil) {
        self.message = message
        self.errorCode = errorCode
    }

    /// The best human text in the body.
    public var text: String? {
        if let message, !message.isEmpty { return message }
        if let errorDescription, !errorDescription.isEmpty { return errorDescription }
        return error
    }
}
