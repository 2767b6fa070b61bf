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
/// specs). Held in secure memory; turned into text only while a body is encoded or decoded.
public struct VB365Secret: Codable, Sendable, CustomStringConvertible {
    public let bytes: SecretBytes

    public init(_ bytes: SecretBytes) { self.bytes = bytes }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        bytes = Array(text.utf8).withUnsafeBytes { SecretBytes(copying: $0) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
    }

    public var description: String { "<redacted>" }
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
