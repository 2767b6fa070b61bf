public import CertVaultCore

extension Vault {
    /// The audit log's records and any problem with them.
    public func auditRecords() -> (records: [AuditLog.Record], problems: [String]) { audit.verify() }

    /// Appends a record for something done outside the vault's own files that an auditor must
    /// see (a token created or revoked), durable when this returns. Never pass a secret: the
    /// detail is stored as written (control characters replaced, cut at 300 characters).
    public func recordAudit(action: String, tenant: TenantID? = nil, detail: String) throws {
        try withLock { try audit.append(actor: actor, action: action, tenant: tenant?.rawValue, detail: AuditLog.clean(detail)) }
    }
}
