public import CertVaultCore

/// Resolves a presented API token to what it grants. The token store implements it; the service's
/// authentication middleware calls it once per request.
public protocol TokenAuthority: Sendable {
    /// The grant of `token`, or `nil` when the token is unknown, expired or revoked (all look the same
    /// to the caller: 401). Compares in constant time; never logs or throws the token.
    func grant(for token: SecretBytes, now: Int64) throws -> AccessGrant?
}
