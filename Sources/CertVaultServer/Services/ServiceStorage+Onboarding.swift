public import CertVaultOnboarding
public import CertVaultPostgres
public import Logging

extension ServiceStorage {
    /// The onboarding records: the `onboarding_records` table (tenant leases in `leases`) of the
    /// database, else the files in `folder` (`[onboarding] state_dir`).
    ///
    /// - Throws: the folder's errors (``CertVaultOnboarding/OnboardingStore/init(folder:)``).
    public func onboardingStore(folder: String) throws -> OnboardingStore {
        guard let database else { return try OnboardingStore(folder: folder) }
        return OnboardingStore(backend: PostgresOnboardingBackend(database: database))
    }

    /// The lease of background job `name` (`JobLease.onboardingWorker`, `.renewalScheduler`,
    /// `.webhookDelivery`) among the replicas sharing the database; nil with files (one replica
    /// runs every job).
    public func jobLease(_ name: String, logger: Logger) -> JobLease? {
        database.map { JobLease.shared(name, database: $0, logger: logger) }
    }
}
