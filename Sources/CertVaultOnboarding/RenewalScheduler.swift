public import CertVaultCore
public import CertVaultVault
public import CertVaultVB365
public import Logging
internal import Foundation

/// Renewal before expiry: one ``pass(now:)`` looks at every onboarded tenant's certificate (the
/// generation VB365 uses), moves the tenant into its renewal state, sends the reminders that are
/// due (each once per generation, remembered in the onboarding record), starts what can start
/// by itself, and, when asked, compares every organization with VB365 (drift).
///
/// | days left (`notAfter` − now) | what a pass does |
/// | --- | --- |
/// | more than the window | `current`; nothing sent |
/// | within the window (max of the policy's `renew_before_days` and the largest reminder day) | `certificate.renewal_due` once; the tenant gets a renewal invitation (customer needed) or is rotated (provider-managed application) |
/// | at or below a reminder day | `certificate.renewal_reminder` once for that day (several crossed at once: one, for the smallest) |
/// | below `urgentDays` | still the same state; the view shows it urgent (`urgentAt`) |
/// | past `notAfter` | `expired`, `certificate.expired` once |
///
/// Time comes only from the `now` given to ``pass(now:)`` (tests control it; nothing sleeps).
/// Tenants without an onboarding record (certificates issued with the CLI and never onboarded)
/// are not followed here; `certvault_certificate_expiration_timestamp_seconds` and
/// `certvault list --expiring` cover them.
///
/// Calls block (vault, record files, VB365): async callers run a pass on a thread of their own.
public final class RenewalScheduler: @unchecked Sendable {
    // Safety: `vault` is used only under `vaultLock`; everything else is immutable or Sendable.

    /// What the scheduler is told by the configuration and the issuance policy.
    public struct Settings: Sendable, Hashable {
        /// Days before `notAfter` at which reminders go out (`[renewal] reminder_days`).
        public var reminderDays: [Int]
        /// The issuance policy's `renew_before_days`.
        public var renewBeforeDays: Int
        /// Whether each pass compares the organizations with VB365 (`[renewal] check_drift`).
        public var checkDrift: Bool
        /// Days before `notAfter` from which a renewal is urgent.
        public var urgentDays: Int

        public init(reminderDays: [Int] = [60, 30, 14, 7, 1], renewBeforeDays: Int = 60, checkDrift: Bool = true, urgentDays: Int = 7) {
            self.reminderDays = Array(Set(reminderDays.filter { $0 > 0 })).sorted(by: >)
            self.renewBeforeDays = renewBeforeDays
            self.checkDrift = checkDrift
            self.urgentDays = urgentDays
        }

        /// The renewal window in days: the policy's, or the largest reminder day when that is larger.
        public var windowDays: Int { max(renewBeforeDays, reminderDays.first ?? 0) }
    }

    /// What one pass did.
    public struct PassReport: Sendable {
        /// The onboarded tenants looked at.
        public var examined = 0
        /// Tenants per renewal state after the pass (every state present, 0 when none).
        public var states: [RenewalState.State: Int] = Dictionary(uniqueKeysWithValues: RenewalState.State.allCases.map { ($0, 0) })
        /// Tenants per kind of drift after the pass (every kind present).
        public var drift: [RenewalState.Drift.Kind: Int] =
            Dictionary(uniqueKeysWithValues: RenewalState.Drift.Kind.allCases.map { ($0, 0) })
        /// The events recorded, in order.
        public var events: [LifecycleEvent] = []
        /// Automatic rotations started or carried on.
        public var rotations = 0
        /// Renewal invitations created (a refreshed one counts when its id changed).
        public var invitationsCreated = 0
        /// Onboarding records rewritten (only when a tenant's renewal state changed).
        public var recordsWritten = 0
        /// Whether VB365 was listed for the drift check.
        public var driftChecked = false
        /// Organizations VB365 listed.
        public var organizationsListed = 0
        /// What went wrong for single tenants or the drift check; the pass went on.
        public var problems: [String] = []
        /// Whether ``RenewalScheduler/stop()`` ended the pass before every tenant was looked at.
        public var stopped = false
    }

    public let store: OnboardingStore
    public let settings: Settings
    private let vault: Vault
    private let vaultLock = NSLock()
    private let events: any LifecycleEventSink
    private let onboarding: Onboarding?
    private let client: VB365Client?
    private let invitations: (any RenewalInvitations)?
    private let logger: Logger
    private let stopping = NSLock()
    private var stopRequested = false

    /// - Parameters:
    ///   - vault: a handle of its own (the scheduler serializes its calls on it).
    ///   - onboarding: the workflow, for automatic rotations; nil without a VB365 connection.
    ///   - client: VB365, for the drift check (default: the workflow's client).
    ///   - invitations: renewal invitations for tenants that need the customer; nil without the portal.
    public init(store: OnboardingStore, vault: Vault, settings: Settings, events: any LifecycleEventSink,
                onboarding: Onboarding?, client: VB365Client? = nil, invitations: (any RenewalInvitations)?, logger: Logger) {
        self.store = store
        self.vault = vault
        self.settings = settings
        self.events = events
        self.onboarding = onboarding
        self.client = client ?? onboarding?.client
        self.invitations = invitations
        self.logger = logger
    }

    private func withVault<T>(_ body: (Vault) throws -> T) rethrows -> T {
        try vaultLock.withLock { try body(vault) }
    }

    /// Makes a pass under way end after the tenant it is working on (graceful shutdown); later
    /// passes end at once. Every record stays consistent: each tenant's state is written whole.
    public func stop() {
        stopping.withLock { stopRequested = true }
    }

    private var isStopped: Bool { stopping.withLock { stopRequested } }

    // MARK: Pass

    /// Looks at every onboarded tenant once, at time `now` (seconds since 1970, UTC).
    ///
    /// A failure with one tenant (its record, an invitation, a rotation, the event sink) is noted
    /// in ``PassReport/problems`` and the pass goes on; the next pass tries again, and a
    /// reminder whose event could not be recorded is not marked sent.
    ///
    /// - Throws: when the onboarding records or the vault's list cannot be read at all.
    public func pass(now: Int64) throws -> PassReport {
        var report = PassReport()
        let records = try store.all().filter { $0.state == .onboarded && $0.generation != nil }
        var entries: [TenantID: [EntrySummary]] = [:]
        for entry in try withVault({ try $0.list() }) { entries[entry.tenant, default: []].append(entry) }
        let organizations = settings.checkDrift ? listOrganizations(records, &report) : nil
        for record in records {
            if isStopped {
                report.stopped = true
                break
            }
            report.examined += 1
            do {
                try process(record, entries: entries[record.intake.tenant] ?? [], organizations: organizations, now: now, &report)
            } catch {
                report.problems.append("\(record.intake.tenant): \(error)")
                logger.warning("renewal: \(record.intake.tenant): \(error)")
                if let state = record.renewal?.state { report.states[state, default: 0] += 1 }
                if let kind = record.renewal?.drift?.kind { report.drift[kind, default: 0] += 1 }
            }
        }
        return report
    }

    /// One listing of VB365's organizations (paged where the API pages), by lower-case id; nil
    /// when there is nothing to compare or VB365 could not be listed.
    private func listOrganizations(_ records: [OnboardingRecord], _ report: inout PassReport) -> [String: VB365Organization]? {
        guard let client, records.contains(where: { $0.organizationId != nil }) else { return nil }
        do {
            let list = try client.organizations()
            report.driftChecked = true
            report.organizationsListed = list.count
            var byId: [String: VB365Organization] = [:]
            for organization in list {
                if let id = organization.id { byId[id.lowercased()] = organization }
            }
            return byId
        } catch {
            report.problems.append("drift check: cannot list VB365's organizations: \(error)")
            logger.warning("renewal: drift check skipped, VB365 could not be listed: \(error)")
            return nil
        }
    }

    private func process(_ loaded: OnboardingRecord, entries: [EntrySummary], organizations: [String: VB365Organization]?,
                         now: Int64, _ report: inout PassReport) throws {
        var record = loaded
        var entries = entries
        let tenant = record.intake.tenant
        guard var facts = Facts(record, entries, now) else {
            throw CertVaultError(.onboardingState, "the vault has no generation \(record.generation ?? 0) for it.",
                                 hint: "Check 'certvault list \(tenant)' and 'certvault onboard status \(tenant)'.")
        }
        var renewal = Self.base(record, facts)
        var rotatedNow = false
        let inWindow = facts.daysLeft <= settings.windowDays || facts.expired

        // A provider-managed application: the rotation runs by itself (once per renewal; a refusal waits for the operator).
        if inWindow, !record.renewalNeedsCustomer, let onboarding, automaticRotationWanted(record, renewal) {
            report.rotations += 1
            rotatedNow = true
            do {
                record = try onboarding.rotate(tenant, configureApplication: false)
            } catch {
                report.problems.append("\(tenant): automatic rotation: \(error)")
                logger.warning("renewal: \(tenant): automatic rotation did not finish: \(error)")
                record = try store.load(tenant) ?? record
            }
            renewal.automaticRotation = record.rotation?.generation
            if record.generation != loaded.generation {
                entries = try withVault { try $0.list(tenant: tenant) }
                guard let newFacts = Facts(record, entries, now) else { return }
                facts = newFacts
                let carried = renewal
                renewal = Self.base(record, facts)
                renewal.rotationReported = carried.rotationReported
                renewal.automaticRotation = carried.automaticRotation
            }
        }

        reportRotationOutcome(record, &renewal, loaded.renewal == nil, now, &report)
        let inWindowNow = facts.daysLeft <= settings.windowDays || facts.expired
        renewal.state = try state(record, facts, inWindow: inWindowNow, &renewal, now, &report)
        reportExpiry(record, facts, inWindow: inWindowNow, &renewal, now, &report)
        // After a rotation in this pass the listing is older than VB365's state: the next pass compares.
        if let organizations, !rotatedNow { checkDrift(record, entries, organizations, &renewal, now, &report) }

        report.states[renewal.state, default: 0] += 1
        if let kind = renewal.drift?.kind { report.drift[kind, default: 0] += 1 }
        if renewal != record.renewal {
            try store.withTenantLock(tenant) {
                // Re-read under the lock: a rotation or the worker may have saved it meanwhile.
                guard var current = try store.load(tenant) else { return }
                current.renewal = renewal
                try store.save(current)
            }
            report.recordsWritten += 1
        }
    }

    // MARK: Steps

    /// The facts about the generation VB365 uses.
    struct Facts {
        var generation: Int
        var thumbprint: String
        var notAfter: String
        var notAfterSeconds: Int64
        var daysLeft: Int
        var expired: Bool

        init?(_ record: OnboardingRecord, _ entries: [EntrySummary], _ now: Int64) {
            guard let generation = record.generation, let entry = entries.first(where: { $0.generation == generation }),
                  let notAfterSeconds = UTCTime.parse(entry.metadata.notAfter) else { return nil }
            self.generation = generation
            thumbprint = entry.metadata.thumbprintSHA1
            notAfter = entry.metadata.notAfter
            self.notAfterSeconds = notAfterSeconds
            daysLeft = Int((Double(notAfterSeconds - now) / 86_400).rounded(.down))
            expired = now >= notAfterSeconds
        }
    }

    /// The stored state, or a fresh one when there is none or the generation changed (a finished
    /// rotation: reminders start over; what was reported about rotations carries over).
    static func base(_ record: OnboardingRecord, _ facts: Facts) -> RenewalState {
        if let stored = record.renewal, stored.generation == facts.generation {
            var kept = stored
            kept.notAfter = facts.notAfter
            kept.thumbprint = facts.thumbprint
            return kept
        }
        var fresh = RenewalState(state: .current, generation: facts.generation, thumbprint: facts.thumbprint, notAfter: facts.notAfter)
        fresh.rotationReported = record.renewal?.rotationReported
        fresh.drift = record.renewal?.drift
        return fresh
    }

    private func automaticRotationWanted(_ record: OnboardingRecord, _ renewal: RenewalState) -> Bool {
        guard let rotation = record.rotation, rotation.generation != record.generation else { return true }
        switch rotation.phase {
        case .updating, .awaitingCustomer, .expired: return true  // carry it on
        case .failed: return rotation.generation != renewal.automaticRotation  // not ours: try once
        case .done: return true
        }
    }

    /// rotation.completed / rotation.refused, once per rotation (whoever ran it: the scheduler,
    /// the customer through the portal, the operator). A record seen for the first time reports
    /// nothing about rotations that ended before the scheduler existed.
    private func reportRotationOutcome(_ record: OnboardingRecord, _ renewal: inout RenewalState, _ firstSight: Bool, _ now: Int64,
                                       _ report: inout PassReport) {
        guard let rotation = record.rotation, [.done, .failed].contains(rotation.phase),
              renewal.rotationReported != rotation.generation else { return }
        if firstSight && renewal.automaticRotation != rotation.generation {
            renewal.rotationReported = rotation.generation
            return
        }
        var data = ["generation": String(rotation.generation), "thumbprint": rotation.thumbprint,
                    "configureApplication": String(rotation.configureApplication)]
        if let previous = rotation.previousGeneration { data["previousGeneration"] = String(previous) }
        if let organizationId = record.organizationId { data["organizationId"] = organizationId }
        if rotation.phase == .failed, let failure = rotation.failure {
            data["reason"] = failure.reason
            if let hint = failure.hint { data["hint"] = hint }
        }
        if emit(rotation.phase == .done ? .rotationCompleted : .rotationRefused, record.intake.tenant, data, now, &report) {
            renewal.rotationReported = rotation.generation
        }
    }

    /// The state to show, with the invitation made when the customer is needed.
    private func state(_ record: OnboardingRecord, _ facts: Facts, inWindow: Bool, _ renewal: inout RenewalState, _ now: Int64,
                       _ report: inout PassReport) throws -> RenewalState.State {
        let tenant = record.intake.tenant
        let pending = record.rotation.flatMap { $0.generation != record.generation ? $0 : nil }
        if facts.expired {
            renewal.nextStep = "The certificate VB365 uses has expired: backups of the organization fail. Rotate now: "
                + "'certvault rotate \(tenant)'" + (record.renewalNeedsCustomer ? " (the customer's Global Administrator must sign in)." : ".")
            return .expired
        }
        switch pending?.phase {
        case .awaitingCustomer?, .expired?:
            renewal.nextStep = "The customer's Global Administrator must sign in with the rotation's device code."
            return .awaitingCustomer
        case .updating?:
            renewal.nextStep = "The new certificate is being sent to VB365; the next pass (or 'certvault rotate \(tenant) --resume') confirms it."
            return .rotating
        case .failed? where inWindow:
            renewal.nextStep = "VB365 refused the rotation (\(pending?.failure?.reason ?? "see the rotation")). "
                + "Fix the cause, then 'certvault rotate \(tenant)'."
            return .rotationRefused
        default:
            break
        }
        guard inWindow else {
            renewal.nextStep = nil
            renewal.invitationId = nil
            return .current
        }
        if renewal.dueSince == nil {
            renewal.dueSince = UTCTime.dateTime(now)
            renewal.urgentAt = UTCTime.dateTime(facts.notAfterSeconds - Int64(settings.urgentDays) * 86_400)
        }
        if !record.renewalNeedsCustomer {
            renewal.nextStep = onboarding == nil
                ? "Rotations of this tenant run by themselves, but the service has no VB365 connection: 'certvault rotate \(tenant) --no-configure-application'."
                : "The rotation runs by itself at the next pass."
            return .renewalDue
        }
        guard let invitations else {
            renewal.nextStep = "Send the customer a renewal: 'certvault rotate \(tenant)' gives the device code their Global Administrator signs in with."
            return .renewalDue
        }
        do {
            let id = try invitations.ensureRenewalInvitation(tenant: tenant, displayName: record.intake.displayName,
                                                             existing: renewal.invitationId, now: now)
            if id != renewal.invitationId { report.invitationsCreated += 1 }
            renewal.invitationId = id
            renewal.nextStep = "Renewal invitation \(id) waits for the customer (the dashboard lists it)."
            return .awaitingCustomer
        } catch {
            report.problems.append("\(tenant): renewal invitation: \(error)")
            renewal.nextStep = "The renewal invitation could not be made (\(error)); the next pass tries again."
            return .renewalDue
        }
    }

    /// certificate.renewal_due, the reminders and certificate.expired, each once per generation.
    private func reportExpiry(_ record: OnboardingRecord, _ facts: Facts, inWindow: Bool, _ renewal: inout RenewalState, _ now: Int64,
                              _ report: inout PassReport) {
        let tenant = record.intake.tenant
        var data = ["generation": String(facts.generation), "thumbprint": facts.thumbprint, "notAfter": facts.notAfter,
                    "daysLeft": String(facts.daysLeft), "state": renewal.state.rawValue]
        if let urgentAt = renewal.urgentAt { data["urgentAt"] = urgentAt }
        if let organizationId = record.organizationId { data["organizationId"] = organizationId }
        if facts.expired {
            if !renewal.expiredReported, emit(.certificateExpired, tenant, data, now, &report) {
                renewal.expiredReported = true
                renewal.dueReported = true
                renewal.remindersSent = settings.reminderDays
            }
            return
        }
        guard inWindow else { return }
        if !renewal.dueReported, emit(.certificateRenewalDue, tenant, data, now, &report) {
            renewal.dueReported = true
        }
        let crossed = settings.reminderDays.filter { facts.daysLeft <= $0 && !renewal.remindersSent.contains($0) }
        if let nearest = crossed.min() {
            data["reminderDays"] = String(nearest)
            if emit(.certificateRenewalReminder, tenant, data, now, &report) {
                renewal.remindersSent = Array(Set(renewal.remindersSent + crossed)).sorted(by: >)
            }
        }
    }

    /// Compares the organization with VB365's listing: one event per distinct drift.
    private func checkDrift(_ record: OnboardingRecord, _ entries: [EntrySummary], _ organizations: [String: VB365Organization],
                            _ renewal: inout RenewalState, _ now: Int64, _ report: inout PassReport) {
        guard let organizationId = record.organizationId else { return }
        if record.rotation.map({ $0.phase == .updating && $0.generation != record.generation }) == true {
            return  // VB365 may already hold the new certificate; the rotation confirms it itself
        }
        let expected = record.thumbprint?.uppercased()
        var found: RenewalState.Drift?
        let at = UTCTime.dateTime(now)
        if let organization = organizations[organizationId.lowercased()] {
            let reported = (organization.exchangeOnlineSettings?.applicationCertificateThumbprint
                ?? organization.sharePointOnlineSettings?.applicationCertificateThumbprint)?.uppercased()
            if let reported, reported != expected {
                let held = entries.contains { $0.metadata.thumbprintSHA1.uppercased() == reported }
                found = RenewalState.Drift(kind: held ? .otherGeneration : .unknownCertificate, organizationId: organizationId,
                                           reportedThumbprint: reported, expectedThumbprint: expected, detectedAt: at)
            }
        } else {
            found = RenewalState.Drift(kind: .organizationMissing, organizationId: organizationId, reportedThumbprint: nil,
                                       expectedThumbprint: expected, detectedAt: at)
        }
        guard let found else {
            renewal.drift = nil
            return
        }
        if found.sameAs(renewal.drift) { return }  // already reported; keep when it was first seen
        var data = ["kind": found.kind.rawValue, "organizationId": organizationId]
        if let expected { data["expectedThumbprint"] = expected }
        if let reported = found.reportedThumbprint { data["reportedThumbprint"] = reported }
        if let generation = record.generation { data["generation"] = String(generation) }
        if emit(.driftDetected, record.intake.tenant, data, now, &report) {
            renewal.drift = found
            logger.warning("renewal: \(record.intake.tenant): VB365 drift \(found.kind.rawValue) (organization \(organizationId))")
        }
    }

    /// Records an event; false (and a problem noted) when the sink refused it.
    private func emit(_ kind: LifecycleEvent.Kind, _ tenant: TenantID, _ data: [String: String], _ now: Int64,
                      _ report: inout PassReport) -> Bool {
        let event = LifecycleEvent(kind: kind, tenant: tenant, occurredAt: UTCTime.dateTime(now), data: data)
        do {
            try events.record(event)
            report.events.append(event)
            return true
        } catch {
            report.problems.append("\(tenant): event \(kind.rawValue) not recorded: \(error)")
            return false
        }
    }
}
