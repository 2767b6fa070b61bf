public import CertVaultCore

extension CertVaultError.Code {
    /// The invitation store fails authentication (edited, truncated, damaged) or is not an invitation store.
    public static let invitationStoreCorrupt = CertVaultError.Code("invitation-store-corrupt")
    /// The invitation store was written with another vault's root key.
    public static let invitationStoreWrongKey = CertVaultError.Code("invitation-store-wrong-key")
    /// The invitation store is older than one this process has already read (an older copy put back).
    public static let invitationStoreRolledBack = CertVaultError.Code("invitation-store-rolled-back")
    /// No invitation has the given id.
    public static let invitationNotFound = CertVaultError.Code("invitation-not-found")
    /// A text given as an invitation link's token is not one (wrong length, prefix or characters).
    public static let malformedInvitationToken = CertVaultError.Code("malformed-invitation-token")
}
