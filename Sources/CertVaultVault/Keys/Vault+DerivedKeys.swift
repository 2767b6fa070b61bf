public import CertVaultCore

extension Vault {
    /// A 32-byte key for another part of certvault (the token store), derived from the vault's root key.
    ///
    /// BLAKE2b-256 keyed with the root key over `"certvault derived key v1: " + purpose`. The prefix keeps
    /// these keys apart from the vault's own (index, audit, backup), whose labels never start with it; a
    /// different `purpose` gives an unrelated key. The root key never changes for the life of a vault (KEK
    /// rotation and a passphrase change leave it as it is), so neither does a derived key.
    public func derivedKey(purpose: String) -> SecretBytes {
        AEAD.deriveKey(from: root, purpose: "certvault derived key v1: " + purpose)
    }
}
