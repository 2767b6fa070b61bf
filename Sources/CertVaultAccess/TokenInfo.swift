public import CertVaultCore

/// What `token list` shows of one token: everything but its hash, which never leaves the store.
public struct TokenInfo: Sendable, Hashable, Codable {
    /// The public identifier, for `token revoke` and the audit log.
    public let accessor: String
    /// The human name given at creation.
    public let name: String
    /// The scopes of a token created with scopes; empty for one bound to a policy.
    public let scopes: [Scope]
    /// The access policy a token is bound to, if any.
    public let policy: String?
    /// The tenant ids and patterns of a token created with scopes; `nil` means every tenant (and, for
    /// a token bound to a policy, the policy's tenants).
    public let tenants: [String]?
    /// When it was created (seconds since 1970, UTC).
    public let created: Int64
    /// When it stops working, if ever.
    public let expires: Int64?
    /// When it was revoked, if it was.
    public let revoked: Int64?
    /// When it was last accepted, as far as the store has recorded it (see ``TokenStore``).
    public let lastUsed: Int64?

    /// Creates a description of a token.
    public init(
        accessor: String, name: String, scopes: [Scope], policy: String?, tenants: [String]?, created: Int64,
        expires: Int64?, revoked: Int64?, lastUsed: Int64?
    ) {
        self.accessor = accessor
        self.name = name
        self.scopes = scopes
        self.policy = policy
        self.tenants = tenants
        self.created = created
        self.expires = expires
        self.revoked = revoked
        self.lastUsed = lastUsed
    }

    /// Whether the token is usable, expired or revoked at `now`.
    public func state(now: Int64) -> State {
        if revoked != nil { return .revoked }
        if let expires, now >= expires { return .expired }
        return .active
    }

    /// A token's state.
    public enum State: String, Sendable, Codable {
        /// Accepted.
        case active
        /// Past its expiry.
        case expired
        /// Revoked with `token revoke`.
        case revoked
    }
}

/// A token just created: its description, and the token itself, which exists only here (the store
/// keeps its keyed hash). Show it to the user once and let it go.
public struct IssuedToken: Sendable {
    /// What `token list` will show of it.
    public let info: TokenInfo
    /// The token text (`cvt_<accessor>_<secret>`), in secure memory.
    public let token: SecretBytes
}
