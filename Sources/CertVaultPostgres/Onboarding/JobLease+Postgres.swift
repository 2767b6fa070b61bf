public import CertVaultOnboarding
public import Logging

extension JobLease {
    /// The lease of background job `name` (``JobLease/onboardingWorker``, ``JobLease/renewalScheduler``,
    /// ``JobLease/webhookDelivery``) among the replicas sharing `database`: held by this replica's id
    /// (`[storage] replica_id`) for `[storage] lease_seconds` at a time.
    public static func shared(_ name: String, database: PostgresDatabase, logger: Logger) -> JobLease {
        JobLease(name: name, leases: PostgresLeases(database: database), holder: database.settings.replicaID,
                 seconds: Double(database.settings.leaseSeconds), logger: logger)
    }
}
