public import CertVaultCore
internal import Foundation

/// The onboarding records, one JSON document per tenant. Holds no secrets: the certificate and
/// password stay in the vault.
///
/// Where the bytes live is the ``backend``'s business: ``FileOnboardingBackend`` (one file per
/// tenant in a private folder, `init(folder:)`, the default) or `PostgresOnboardingBackend`
/// (several replicas sharing one database). The JSON is the same in both.
///
/// Exclusion: ``withTenantLock(_:_:)`` keeps two workflows on one tenant from overlapping: a
/// `flock` on one machine, a lease with a fence across replicas. Saves made inside it carry the
/// lease's fence, and a save by a holder whose lease was taken over is refused (`lease-lost`).
public struct OnboardingStore: Sendable {
    /// Where the records are: the folder of a file store, a description of the database otherwise.
    public let folder: String
    /// The storage of the records' bytes and of the per-tenant exclusion.
    public let backend: any OnboardingRecordBackend

    /// Opens (and creates, 0700) the folder: the file backend.
    public init(folder: String) throws {
        self.init(backend: try FileOnboardingBackend(folder: folder))
    }

    /// A store on `backend`.
    public init(backend: any OnboardingRecordBackend) {
        self.backend = backend
        self.folder = backend.location
    }

    /// Where a tenant's record is: its file for the file backend.
    public func path(_ tenant: TenantID) -> String {
        (backend as? FileOnboardingBackend)?.path(tenant) ?? "\(folder) (tenant \(tenant.rawValue))"
    }

    /// The record of a tenant, or nil when it has none.
    public func load(_ tenant: TenantID) throws -> OnboardingRecord? {
        guard let bytes = try backend.read(tenant) else { return nil }
        return try decode(bytes, tenant: tenant)
    }

    /// Every record, sorted by tenant.
    public func all() throws -> [OnboardingRecord] {
        try backend.readAll().map { try decode($0.bytes, tenant: $0.tenant) }
    }

    /// Writes a record in place of the old one, durably. Inside ``withTenantLock(_:_:)`` on a
    /// backend with leases, the write carries the lease's fence.
    ///
    /// - Throws: `lease-lost` when another replica took the tenant over since this one's lease
    ///   was granted (nothing was written).
    public func save(_ record: OnboardingRecord) throws {
        let tenant = record.intake.tenant
        let held = HeldLease.current.flatMap { $0.name == Lease.tenant(tenant) ? $0 : nil }
        try backend.write(Self.encode(record), tenant: tenant, lease: held)
    }

    /// The bytes of a record as every backend stores them: sorted, indented JSON and a newline.
    public static func encode(_ record: OnboardingRecord) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(record)) + [10]
    }

    /// Runs `body` holding the tenant's lock; waits while another process (or replica) holds it.
    public func withTenantLock<T>(_ tenant: TenantID, _ body: () throws -> T) throws -> T {
        // `wait: true` never answers nil.
        try backend.withTenant(tenant, wait: true) { lease in try HeldLease.$current.withValue(lease) { try body() } }!
    }

    /// Runs `body` holding the tenant's lock when nobody else holds it; nil (and `body` not run)
    /// when another process or replica does. `body` gets the lease (nil on the file backend).
    public func withTenantLockIfFree<T>(_ tenant: TenantID, _ body: (Lease?) throws -> T) throws -> T? {
        try backend.withTenant(tenant, wait: false) { lease in try HeldLease.$current.withValue(lease) { try body(lease) } }
    }

    private func decode(_ bytes: [UInt8], tenant: TenantID) throws -> OnboardingRecord {
        do {
            return try JSONDecoder().decode(OnboardingRecord.self, from: Data(bytes))
        } catch {
            throw CertVaultError(.invalidInput, "The onboarding record '\(path(tenant))' is damaged (not the JSON certvault writes).",
                                 hint: "Restore it from a backup, or move it away and start the tenant's onboarding again (look the organization up in VB365 first).")
        }
    }
}
