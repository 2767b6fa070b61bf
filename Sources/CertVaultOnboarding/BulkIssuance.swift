public import CertVaultCore
public import CertVaultIssuer
public import CertVaultVault

/// Issues certificates for many tenants at once: key generation on up to `jobs` tasks, each
/// credential exported to its folder and/or stored in the vault as it is done. The CLI's
/// `issue --from` and the service call this; it prints nothing and reports through a closure.
public enum BulkIssuance {
    /// One tenant's certificate, and where it went.
    public struct Issued: Sendable {
        public let credential: IssuedCredential
        /// The export folder's files, when exported.
        public let files: CredentialExport.Paths?
        /// The vault's folder and the generation, when stored.
        public let vault: (path: String, generation: Int)?
    }

    /// What happened to one tenant, reported as soon as it is known.
    public enum Event: Sendable {
        case issued(Issued)
        case failed(TenantID, CertVaultError)
    }

    /// Everything the run did.
    public struct Outcome: Sendable {
        /// In the order they finished.
        public var issued: [Issued] = []
        /// In the order they failed.
        public var failures: [(tenant: TenantID, error: CertVaultError)] = []
    }

    /// Issues every prepared request (check all of them with `Issuer.prepare` first, so a bad row
    /// costs no key generation).
    ///
    /// - Parameters:
    ///   - exportFolder: write each credential's files there (`CredentialExport.write`), or nil.
    ///   - passwordDestination: where exported passwords go.
    ///   - summaryJSON: the bytes of `summary.json` in each export folder.
    ///   - recordPassword: called once per credential before its export is published (or after it
    ///     is stored, without an export), e.g. to write `tenant<TAB>password` to a password file.
    ///   - vault: store each credential as the tenant's next generation, or nil. Stored on the
    ///     calling task, one at a time.
    ///   - report: called on the calling task for every tenant, in the order they finish.
    /// - Returns: what was issued and what failed; a failure of one tenant does not stop the others.
    public static func run(_ prepared: [PreparedIssuance], issuer: Issuer, jobs: Int, exportFolder: String?,
                           passwordDestination: CredentialExport.PasswordDestination,
                           summaryJSON: @escaping @Sendable (CredentialSummary) throws -> [UInt8],
                           recordPassword: @escaping @Sendable (IssuedCredential) throws -> Void,
                           vault: Vault?, report: (Event) -> Void = { _ in }) async throws -> Outcome {
        var outcome = Outcome()
        try await withThrowingTaskGroup(of: (TenantID, Result<(IssuedCredential, CredentialExport.Paths?), CertVaultError>).self) { group in
            var next = 0
            func startNext() {
                guard next < prepared.count else { return }
                let item = prepared[next]
                next += 1
                group.addTask {
                    do {
                        let credential = try issuer.issue(item)
                        guard let exportFolder else { return (item.request.tenant, .success((credential, nil))) }
                        let paths = try CredentialExport.write(credential, summaryJSON: try summaryJSON(credential.summary),
                                                               to: exportFolder, password: passwordDestination) {
                            try recordPassword(credential)
                        }
                        return (item.request.tenant, .success((credential, paths)))
                    } catch let error as CertVaultError {
                        return (item.request.tenant, .failure(error))
                    } catch {
                        return (item.request.tenant, .failure(CertVaultError(.fileSystem, "Unexpected failure: \(error).")))
                    }
                }
            }
            for _ in 0..<min(max(jobs, 1), prepared.count) { startNext() }
            while let (tenant, result) = try await group.next() {
                switch result {
                case .success(let (credential, paths)):
                    var stored: (path: String, generation: Int)?
                    do {
                        if let vault {
                            stored = (vault.path, try vault.store(tenant: tenant, payload: EntryPayload(credential)))
                            if paths == nil { try recordPassword(credential) }
                        }
                        let issued = Issued(credential: credential, files: paths, vault: stored)
                        outcome.issued.append(issued)
                        report(.issued(issued))
                    } catch let error as CertVaultError {
                        outcome.failures.append((tenant, error))
                        report(.failed(tenant, error))
                    }
                case .failure(let error):
                    outcome.failures.append((tenant, error))
                    report(.failed(tenant, error))
                }
                startNext()
            }
        }
        return outcome
    }
}
