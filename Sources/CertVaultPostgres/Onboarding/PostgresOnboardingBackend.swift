public import CertVaultCore
public import CertVaultOnboarding
internal import Foundation
internal import Logging
internal import PostgresNIO

/// Onboarding records shared by every replica: table `onboarding_records` (tenant, record =
/// the same JSON bytes as `<tenant>.json`, revision), and a lease per tenant (`tenant:<id>`,
/// table `leases`) instead of the file backend's `flock`.
///
/// ``withTenant(_:wait:_:)`` takes the tenant's lease (holder: this replica's id and a token of
/// the acquisition, so two threads of one replica exclude each other too), renews it on a
/// thread of its own every third of ``leaseSeconds`` while the work runs, and releases it after.
/// No transaction is held across the work (the device-code wait, `POST Organizations`): a write
/// checks the lease's fence and writes the record in one short transaction, and is refused
/// (`lease-lost`) when another replica took the tenant over.
public final class PostgresOnboardingBackend: OnboardingRecordBackend {
    let database: PostgresDatabase
    /// The tenants' leases.
    public let leases: PostgresLeases
    /// How long a tenant's lease lasts without a renewal (`[storage] lease_seconds`).
    public let leaseSeconds: Double
    /// How long ``withTenant(_:wait:_:)`` waits for a tenant another replica works on.
    public let maximumWait: Double

    /// Records in `database` (migrated). `leaseSeconds` (default: the settings') may be short in tests.
    public init(database: PostgresDatabase, leaseSeconds: Double? = nil, maximumWait: Double? = nil) {
        self.database = database
        self.leases = PostgresLeases(database: database)
        self.leaseSeconds = max(0.5, leaseSeconds ?? Double(database.settings.leaseSeconds))
        self.maximumWait = maximumWait ?? max(120, 4 * self.leaseSeconds)
    }

    public var location: String { "\(database.settings.displayURL) (table onboarding_records)" }

    public func read(_ tenant: TenantID) throws -> [UInt8]? {
        try database.blocking { client in
            let rows = try await client.query("SELECT record FROM onboarding_records WHERE tenant = \(tenant.rawValue)",
                                              logger: PostgresDatabase.quiet)
            for try await bytes in rows.decode(Data.self) { return Array(bytes) }
            return nil
        }
    }

    public func readAll() throws -> [(tenant: TenantID, bytes: [UInt8])] {
        let rows: [(String, Data)] = try database.blocking { client in
            var all: [(String, Data)] = []
            let rows = try await client.query("SELECT tenant, record FROM onboarding_records ORDER BY tenant",
                                              logger: PostgresDatabase.quiet)
            for try await row in rows.decode((String, Data).self) { all.append(row) }
            return all
        }
        return try rows.map { (try TenantID($0.0), Array($0.1)) }
    }

    public func write(_ bytes: [UInt8], tenant: TenantID, lease: Lease?) throws {
        let data = Data(bytes)
        try database.transaction { connection in
            if let lease { try await PostgresLeases.checkFence(lease, on: connection) }
            _ = try await connection.query(
                """
                INSERT INTO onboarding_records (tenant, record) VALUES (\(tenant.rawValue), \(data))
                ON CONFLICT (tenant) DO UPDATE SET record = EXCLUDED.record,
                    revision = onboarding_records.revision + 1, updated_at = now()
                """, logger: PostgresDatabase.quiet)
        }
    }

    public func withTenant<T>(_ tenant: TenantID, wait: Bool, _ body: (Lease?) throws -> T) throws -> T? {
        let name = Lease.tenant(tenant)
        let holder = "\(database.settings.replicaID)#\(UUID().uuidString.prefix(8).lowercased())"
        let deadline = Date().addingTimeInterval(maximumWait)
        var lease = try leases.acquire(name, holder: holder, seconds: leaseSeconds)
        while lease == nil {
            guard wait else { return nil }
            guard Date() < deadline else {
                throw CertVaultError(.leaseBusy, "Another replica or process has been working on '\(tenant)' for more than \(Int(maximumWait)) s.",
                                     hint: "Try again later; 'certvault onboard status \(tenant)' shows where it stands.")
            }
            Thread.sleep(forTimeInterval: min(0.25, leaseSeconds / 4))
            lease = try leases.acquire(name, holder: holder, seconds: leaseSeconds)
        }
        let held = lease!
        let renewer = LeaseRenewer(lease: held, leases: leases, seconds: leaseSeconds)
        defer {
            renewer.stop()
            try? leases.release(held)
        }
        return try body(held)
    }
}

/// Renews a lease every third of its time on a thread of its own until stopped (or lost: the
/// fence check then refuses the holder's writes).
private final class LeaseRenewer: @unchecked Sendable {
    // Safety: `stopped` only under `condition`.
    private let condition = NSCondition()
    private var stopped = false

    init(lease: Lease, leases: PostgresLeases, seconds: Double) {
        Thread.detachNewThread { [self] in
            while true {
                condition.lock()
                let deadline = Date().addingTimeInterval(seconds / 3)
                while !stopped, condition.wait(until: deadline) {}
                let done = stopped
                condition.unlock()
                if done { return }
                do {
                    guard try leases.renew(lease, seconds: seconds) != nil else { return }  // taken over
                } catch {
                    continue  // the database is unreachable for now: try again next time
                }
            }
        }
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
