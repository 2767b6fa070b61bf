public import CertVaultVault

extension RestoreCredential {
    /// This credential with its secrets read out through `reader`: suspends (never blocks a
    /// thread) until the read's audit record is durable in a group commit, then returns the same
    /// credential with the PFX and password. For the service: choose the generation with
    /// `retrieve(vault: reader.acting(as: actor), ..., secrets: false)` on a blocking-work thread
    /// (it reads entry files), then call this from the route.
    ///
    /// - Parameter actor: who reads (nil: the vault's actor).
    /// - Throws: the reader's errors; when the record could not be made durable, nothing is returned.
    public func readingSecrets(from reader: CredentialReader, actor: String?, purpose: String) async throws -> RestoreCredential {
        let (_, payload, _) = try await reader.readOut(tenant: tenant, generation: generation, purpose: purpose, actor: actor)
        return RestoreCredential(
            tenant: tenant, generation: generation, status: status, organizationId: organizationId, applicationId: applicationId,
            region: region, msid: msid, thumbprint: thumbprint, notAfter: notAfter, matchesVB365: matchesVB365, warnings: warnings,
            pfx: payload.pfx, password: payload.password)
    }
}
