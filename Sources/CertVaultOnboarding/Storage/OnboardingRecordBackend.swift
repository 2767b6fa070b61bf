public import CertVaultCore

/// Where onboarding records live: their bytes (the JSON ``OnboardingStore`` writes, the same in
/// every backend) and the per-tenant exclusion that keeps two workflows on one tenant from
/// overlapping.
///
/// Implementations: ``FileOnboardingBackend`` (a folder, `flock` per tenant; today's layout) and
/// `PostgresOnboardingBackend` in CertVaultPostgres (table `onboarding_records`, a lease per tenant
/// with a fence checked by every write). Calls block; never call them from a NIO event loop.
public protocol OnboardingRecordBackend: Sendable {
    /// Where the records are, for messages (a folder, or a database and table).
    var location: String { get }

    /// The bytes of a tenant's record, or nil when it has none.
    func read(_ tenant: TenantID) throws -> [UInt8]?

    /// Every record's bytes, sorted by tenant.
    func readAll() throws -> [(tenant: TenantID, bytes: [UInt8])]

    /// Replaces the tenant's record durably. With `lease`, the write is refused (`lease-lost`) when
    /// the lease's fence is no longer current: another holder took the tenant over.
    func write(_ bytes: [UInt8], tenant: TenantID, lease: Lease?) throws

    /// Runs `body` holding the tenant's exclusion. When another holds it: waits (`wait`), or
    /// returns nil without running `body`. `body` gets the lease it runs under (nil for a backend
    /// without fencing).
    ///
    /// - Throws: `lease-busy` when waiting took longer than the backend allows.
    func withTenant<T>(_ tenant: TenantID, wait: Bool, _ body: (Lease?) throws -> T) throws -> T?
}
