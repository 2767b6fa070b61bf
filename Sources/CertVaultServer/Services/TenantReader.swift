import CertVaultAccess
import CertVaultCore
import CertVaultOnboarding
import CertVaultVault

/// Reads tenant data for one caller. Every function takes the caller's grant and never returns
/// a tenant the grant does not cover: the filter is applied here, where the vault and the
/// onboarding records are read, not in the routes. A tenant that is not covered is reported as
/// absent, exactly like one that does not exist.
enum TenantReader {
    /// The covered tenants with their generations (from the vault's index: status, expiry,
    /// thumbprint), sorted by tenant.
    static func generations(_ vault: Vault, grant: AccessGrant) throws -> [(TenantID, [EntrySummary])] {
        var byTenant: [TenantID: [EntrySummary]] = [:]
        for entry in try vault.list() where grant.covers(entry.tenant) {
            byTenant[entry.tenant, default: []].append(entry)
        }
        return byTenant.sorted { $0.key < $1.key }
    }

    /// One covered tenant's generations with their full metadata; empty when it has none or is not covered.
    static func generations(_ vault: Vault, tenant: TenantID, grant: AccessGrant) throws -> [EntrySummary] {
        guard grant.covers(tenant) else { return [] }
        return try vault.list(tenant: tenant)
    }

    /// The covered tenants' onboarding records, sorted by tenant.
    static func records(_ store: OnboardingStore, grant: AccessGrant) throws -> [OnboardingRecord] {
        try store.all().filter { grant.covers($0.intake.tenant) }
    }

    /// One covered tenant's onboarding record; `nil` when it has none or is not covered.
    static func record(_ store: OnboardingStore, tenant: TenantID, grant: AccessGrant) throws -> OnboardingRecord? {
        guard grant.covers(tenant) else { return nil }
        return try store.load(tenant)
    }

    /// The audit records after `sequence` that the grant may see: a grant bound to tenants sees
    /// only records about those tenants; an unbound grant sees every record.
    static func audit(_ vault: Vault, after sequence: Int, grant: AccessGrant) -> (records: [AuditLog.Record], verified: Bool) {
        let (records, problems) = vault.auditRecords()
        let visible = records.filter { record in
            guard record.sequence > sequence else { return false }
            if grant.tenants == nil { return true }
            guard let name = record.tenant, let tenant = try? TenantID(name) else { return false }
            return grant.covers(tenant)
        }
        return (visible, problems.isEmpty)
    }
}
