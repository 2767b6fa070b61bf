public import CertVaultCore

extension CertVaultError.Code {
    /// The token store fails authentication (edited, truncated, damaged) or is not a token store.
    public static let tokenStoreCorrupt = CertVaultError.Code("token-store-corrupt")
    /// The token store was written with another vault's root key.
    public static let tokenStoreWrongKey = CertVaultError.Code("token-store-wrong-key")
    /// The token store is older than one this process has already read (an older copy put back).
    public static let tokenStoreRolledBack = CertVaultError.Code("token-store-rolled-back")
    /// No token has the given accessor.
    public static let tokenNotFound = CertVaultError.Code("token-not-found")
    /// An access policy file does not parse, or names an unknown scope or a bad tenant pattern.
    public static let invalidAccessPolicy = CertVaultError.Code("invalid-access-policy")
    /// A token names an access policy that does not exist.
    public static let unknownAccessPolicy = CertVaultError.Code("unknown-access-policy")
}
