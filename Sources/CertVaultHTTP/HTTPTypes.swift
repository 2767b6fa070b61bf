public import CertVaultCore

/// One HTTP request.
public struct HTTPRequest: Sendable {
    /// The method, such as `GET` or `POST`.
    public var method: String
    /// The absolute URL.
    public var url: String
    /// Request headers (name, value), sent in order.
    public var headers: [(String, String)]
    /// The body, if any.
    public var body: [UInt8]?
    /// A body that holds a secret (a password, a PFX password), sent from secure memory instead
    /// of ``body`` when set; libcurl is handed this buffer itself, not a copy.
    public var secretBody: SecretBytes?
    /// False for a request that must reach the server at most once (adding an organization):
    /// it then goes over a fresh connection, because libcurl silently sends a request again
    /// when a reused keep-alive connection dies before any answer.
    public var mayBeRepeated: Bool
    /// Seconds for the whole exchange, when this request needs another limit than the client's.
    public var totalTimeout: Double?

    /// Creates a request.
    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8]? = nil, mayBeRepeated: Bool = true,
                totalTimeout: Double? = nil, secretBody: SecretBytes? = nil) {
        self.secretBody = secretBody
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.mayBeRepeated = mayBeRepeated
        self.totalTimeout = totalTimeout
    }
}

/// One HTTP response.
public struct HTTPResponse: Sendable {
    /// The status code.
    public let status: Int
    /// Response headers with lower-cased names, in order.
    public let headers: [(String, String)]
    /// The body.
    public let body: [UInt8]

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        headers.first { $0.0 == name.lowercased() }?.1
    }
}

/// How the client decides to trust a server's TLS certificate.
public enum HTTPTrust: Sendable, Hashable {
    /// The system's CA store.
    case systemStore
    /// A CA bundle file (PEM), e.g. the VB365 server's self-signed certificate.
    case caFile(String)
    /// A pinned public key, as curl spells it (`sha256//<base64>`), with an optional CA file.
    /// The chain is still verified; the pin is checked in addition.
    case pinnedPublicKey(String, caFile: String?)
    /// No verification at all. Only with an explicit flag; every use is logged as a warning.
    case insecureNoVerification
}

extension CertVaultError.Code {
    /// The exchange failed after the connection stood (timeout, reset, a response too large):
    /// the server may have received and carried out the request.
    public static let httpTransport = CertVaultError.Code("http-transport")
    /// No connection could be made (host unknown, nothing listening): nothing was sent.
    public static let httpConnect = CertVaultError.Code("http-connect")
    /// The server's TLS certificate or key was not trusted (CA, host name, pin): nothing was sent.
    public static let httpTLS = CertVaultError.Code("http-tls")
    /// The URL is not allowed (plain http to a non-loopback host, an unsupported scheme).
    public static let httpURL = CertVaultError.Code("http-url")
}
