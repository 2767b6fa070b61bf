public import CertVaultOnboarding
public import CertVaultVault
public import CertVaultCore
internal import CertVaultConfiguration
public import CertVaultAccess
internal import Foundation
public import Logging
public import ServiceLifecycle

/// The renewal scheduler as a service of the ServiceGroup: a pass at start, then one every
/// `[renewal] interval_hours`. A pass runs on a thread of its own (it reads every onboarding
/// record and the vault's list, and may list VB365 and rotate), never on an event loop nor on
/// the request pool. On graceful shutdown the pass under way stops after its current tenant and
/// no further pass starts.
public struct RenewalSchedulerService: Service {
    /// The scheduler.
    public let scheduler: RenewalScheduler
    /// Time between passes.
    public let interval: Duration
    /// Seconds since 1970 UTC (``AppServices/clock``; tests pin it).
    public let clock: @Sendable () -> Int64
    /// Where the pass's counts go (the renewal gauges, passes, last pass time); nil: nowhere.
    public let metrics: ServiceMetrics?
    let logger: Logger
    /// Called after each pass with its report (tests wait on it).
    let onPass: @Sendable (RenewalScheduler.PassReport?) -> Void
    /// With several replicas, the lease `job:renewal-scheduler`: a pass runs only on the replica
    /// holding it (the others skip it). Nil: every pass runs (one replica).
    public var jobLease: JobLease?

    public init(scheduler: RenewalScheduler, interval: Duration, clock: @escaping @Sendable () -> Int64 = { UTCTime.now() },
                metrics: ServiceMetrics? = ServiceMetrics.shared, logger: Logger,
                onPass: @escaping @Sendable (RenewalScheduler.PassReport?) -> Void = { _ in }) {
        self.scheduler = scheduler
        self.interval = interval
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
        self.onPass = onPass
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                if let jobLease, !(await jobLease.holdAsync()) {
                    logger.debug("renewal pass skipped: another replica holds \(jobLease.name)")
                } else {
                    let report = await runPass()
                    onPass(report)
                }
                if Task.isShuttingDownGracefully { break }
                // Sleeps until the next pass; graceful shutdown (or cancellation) ends the wait.
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
                } catch {
                    break
                }
            }
        } onGracefulShutdown: {
            scheduler.stop()
        }
    }

    /// Runs one pass now, on a thread of its own, and records it in the metrics; nil when it failed
    /// as a whole (logged and counted). The loop in ``run()`` calls it; tests call it directly.
    public func runPass() async -> RenewalScheduler.PassReport? {
        let now = clock()
        let scheduler = scheduler
        let result: Result<RenewalScheduler.PassReport, any Error> = await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: Result { try scheduler.pass(now: now) })
            }
            thread.name = "certvault-renewal"
            thread.start()
        }
        switch result {
        case .success(let report):
            metrics?.renewals(states: report.states, drift: report.drift)
            metrics?.renewalPass(completed: true, at: now)
            let due = report.states.filter { $0.key != .current }.values.reduce(0, +)
            let line = "renewal pass: \(report.examined) tenants, \(due) not current, \(report.events.count) events, "
                + "\(report.rotations) automatic rotations, \(report.invitationsCreated) invitations, "
                + "drift \(report.drift.values.reduce(0, +))\(report.driftChecked ? "" : " (not checked)"), "
                + "\(report.problems.count) problems"
            logger.info("\(line)")
            for problem in report.problems.prefix(20) { logger.warning("renewal: \(problem)") }
            return report
        case .failure(let error):
            metrics?.renewalPass(completed: false, at: now)
            logger.error("renewal pass failed: \(error)")
            return nil
        }
    }
}

extension RenewalSchedulerService {
    /// The service `certvault serve` runs when `[renewal] enabled`: the scheduler over the
    /// service's onboarding records, a vault handle of its own, the issuance policy's renewal
    /// window, the service's event sink and (when the service has one) its VB365 workflow.
    ///
    /// - Parameters:
    ///   - vault: a handle for the scheduler alone (`Vault.anotherHandle()`).
    ///   - renewBeforeDays: the issuance policy's `renew_before_days`.
    ///   - invitations: renewal invitations (the portal); nil without it.
    public static func make(services: AppServices, vault: Vault, renewBeforeDays: Int, invitations: (any RenewalInvitations)?,
                            logger: Logger) -> RenewalSchedulerService {
        let renewal = services.configuration.renewal
        let settings = RenewalScheduler.Settings(reminderDays: renewal.reminderDays, renewBeforeDays: renewBeforeDays,
                                                 checkDrift: renewal.checkDrift)
        let scheduler = RenewalScheduler(store: services.onboardingStore, vault: vault, settings: settings, events: services.events,
                                         onboarding: services.onboarding, invitations: invitations, logger: logger)
        var service = RenewalSchedulerService(scheduler: scheduler, interval: .seconds(Int64(renewal.intervalHours) * 3600),
                                              clock: services.clock, logger: logger)
        service.jobLease = services.storage?.jobLease(JobLease.renewalScheduler, logger: logger)
        return service
    }
}

/// Renewal invitations from the portal's invitation store, for the scheduler.
///
/// A usable renewal invitation of the tenant is kept: the one the scheduler made before, or one
/// the operator made (`certvault invite TENANT --kind renewal`, the dashboard), whose link the
/// operator has. Otherwise a new one is created by `renewal-scheduler` and audited. certvault sends
/// no mail: the link of an invitation the scheduler made is shown to nobody, so the operator sends
/// the customer a link by making one (which replaces the scheduler's); docs/renewal.md.
public final class PortalRenewalInvitations: RenewalInvitations, @unchecked Sendable {
    // Safety: `vault` is used only under `vaultLock`; the rest is immutable or Sendable.
    let store: InvitationStore
    private let vault: Vault
    private let vaultLock = NSLock()
    let lifetimeSeconds: Int64

    /// - Parameters:
    ///   - vault: a handle for the audit records (serialized by the vault's own lock).
    ///   - lifetimeDays: `[portal] invitation_days`.
    public init(store: InvitationStore, vault: Vault, lifetimeDays: Int) {
        self.store = store
        self.vault = vault
        self.lifetimeSeconds = Int64(max(1, lifetimeDays)) * 86_400
    }

    public func ensureRenewalInvitation(tenant: TenantID, displayName: String?, existing: String?, now: Int64) throws -> String {
        if let existing, let invitation = try store.invitation(id: existing), invitation.tenant == tenant, invitation.isUsable(now: now) {
            return existing
        }
        let usable = try store.list().filter { $0.tenant == tenant && $0.kind == .renewal && $0.isUsable(now: now) }
        if let newest = usable.max(by: { $0.createdAt < $1.createdAt }) { return newest.id }
        let made = try store.create(tenant: tenant, kind: .renewal, displayName: displayName, lifetimeSeconds: lifetimeSeconds,
                                    createdBy: "renewal-scheduler", now: now)
        try vaultLock.withLock {
            try vault.recordAudit(action: "invitation.create", tenant: tenant,
                                  detail: "renewal invitation \(made.invitation.id) by the renewal scheduler, expires "
                                      + UTCTime.dateTime(made.invitation.expiresAt))
        }
        return made.invitation.id
    }
}
