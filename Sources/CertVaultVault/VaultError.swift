public import CertVaultCore

extension CertVaultError.Code {
    /// A vault file fails authentication, is truncated, or is not a vault file.
    public static let vaultCorrupt = CertVaultError.Code("vault-corrupt")
    /// The key file or passphrase does not unlock the vault.
    public static let vaultLocked = CertVaultError.Code("vault-locked")
    /// No vault at the given place, or one exists where a new one was to be made.
    public static let vaultMissing = CertVaultError.Code("vault-missing")
    /// A tenant or generation is not in the vault.
    public static let notFound = CertVaultError.Code("not-found")
}

enum VaultError {
    static func corrupt(_ file: String, _ why: String, hint: String? = nil) -> CertVaultError {
        CertVaultError(.vaultCorrupt, "Vault file '\(file)' cannot be used: \(why).",
                       hint: hint ?? "Run 'certvault vault verify' to list every damaged file; restore damaged files from a backup.")
    }

    static func authentication(_ file: String, _ part: String) -> CertVaultError {
        CertVaultError(.vaultCorrupt, "Vault file '\(file)' failed authentication (\(part)): it was altered, damaged, "
            + "or moved from another tenant or generation.",
            hint: "Do not use it; restore it from a backup. 'certvault vault verify' lists every such file.")
    }
}
