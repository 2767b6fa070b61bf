public import CertVaultCore

/// Resolves a presented API token to what it grants. The token store implements it; the service's
/// authentication middleware calls it once per request.
public protocol TokenAuthority: Sendable {
    /// The grant of `token`, or `nil` when the token is unknown, expired or revoked (all look the same
    /// to the caller: 401). Compares in constant time; never logs or throws the token.
    func grant(for token: SecretBytes, now: Int64) throws -> AccessGrant?

    /// Writes what the authority keeps in memory between requests (the token store: "last used"
    /// times) when that is due. The service calls it from a timer, off the event loop, e.g. every
    /// few seconds; it returns at once when nothing is due. The default does nothing.
    func flushIfDue(now: Int64) throws

    /// Writes what the authority keeps in memory, due or not: at shutdown. The default does nothing.
    func flush(now: Int64) throws
}

extension TokenAuthority {
    /// Nothing to write.
    public func flushIfDue(now: Int64) throws {}

    /// Nothing to write.
    public func flush(now: Int64) throws {}
}
