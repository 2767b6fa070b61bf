public import CertVaultCore

extension CertVaultError.Code {
    /// VB365 answered with an error status (its message and code are in ``VB365Error``).
    public static let vb365Rejected = CertVaultError.Code("vb365-rejected")
    /// Logging in failed: wrong user or password, or the account may not use the REST API.
    public static let vb365Authentication = CertVaultError.Code("vb365-authentication")
    /// The answer was not what the API describes (malformed JSON, a missing field, an
    /// unexpected status).
    public static let vb365Protocol = CertVaultError.Code("vb365-protocol")
    /// None of the API versions certvault speaks is served at that URL.
    public static let vb365Version = CertVaultError.Code("vb365-version")
}

/// A failed VB365 call: the error to show, plus what the server said, for callers that decide
/// what to do next (onboarding reconciles ambiguous outcomes through `GET`).
public struct VB365Error: Error, Sendable, CustomStringConvertible {
    /// The error to show: what went wrong and what to do. Never holds a secret.
    public let error: CertVaultError
    /// The HTTP status, when an answer arrived.
    public let status: Int?
    /// `RESTExceptionInfo.message` (or the OAuth `error_description`): control characters
    /// escaped, at most ``VB365Limits/serverText`` characters, secrets sent scrubbed out.
    public let serverMessage: String?
    /// `RESTExceptionInfo.errorCode` (or the OAuth `error`): an open set.
    public let errorCode: String?
    /// True when the server may have carried out the request although no success came back
    /// (timeout or connection lost after sending, or a 5xx): look before repeating it.
    public let outcomeUnknown: Bool

    public init(_ error: CertVaultError, status: Int? = nil, serverMessage: String? = nil, errorCode: String? = nil, outcomeUnknown: Bool = false) {
        self.error = error
        self.status = status
        // Escaped and cut here too, so that no caller can keep raw server text (the client has
        // also scrubbed secrets out of it: VB365ServerText).
        self.serverMessage = serverMessage.map { DisplayText.escapingControls($0, limit: VB365Limits.serverText) }
        self.errorCode = errorCode.map { DisplayText.escapingControls($0, limit: VB365Limits.shortServerText) }
        self.outcomeUnknown = outcomeUnknown
    }

    public var code: CertVaultError.Code { error.code }
    public var description: String { error.description }
}
