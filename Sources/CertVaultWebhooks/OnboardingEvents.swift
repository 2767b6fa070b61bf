public import CertVaultCore
public import CertVaultOnboarding
public import Logging

/// The lifecycle events of an onboarding, made from its record.
///
/// Only facts that are not secret go in: the tenant, the organization's name, the state, ids,
/// when the code runs out, why it failed. Never the device code itself (it signs the customer's
/// administrator in; the API and the portal show it to those allowed to see it), no password,
/// PFX, token or invitation link.
public enum OnboardingEvents {
    /// `onboarding.code_issued`: a device code is out (an onboarding started, or got a new code).
    public static func codeIssued(_ record: OnboardingRecord, now: Int64) -> LifecycleEvent {
        var data = common(record)
        if let expires = record.codeExpiresAt { data["codeExpiresAt"] = expires }
        if let url = record.verificationUrl { data["verificationUrl"] = url }
        return LifecycleEvent(kind: .onboardingCodeIssued, tenant: record.intake.tenant, occurredAt: UTCTime.dateTime(now), data: data)
    }

    /// The event for a record the worker carried to a state: `onboarding.completed` (onboarded),
    /// `onboarding.failed`, `onboarding.code_expired`; nil for a state that is not an outcome.
    public static func afterStep(_ record: OnboardingRecord, now: Int64) -> LifecycleEvent? {
        var data = common(record)
        let kind: LifecycleEvent.Kind
        switch record.state {
        case .onboarded:
            kind = .onboardingCompleted
            if let id = record.organizationId { data["organizationId"] = id }
            if let generation = record.generation { data["generation"] = String(generation) }
            if let thumbprint = record.thumbprint { data["thumbprint"] = thumbprint }
        case .failed:
            kind = .onboardingFailed
            if let failure = record.failure {
                data["reason"] = failure.reason
                if let hint = failure.hint { data["hint"] = hint }
                if let status = failure.status { data["status"] = String(status) }
                if let code = failure.errorCode { data["errorCode"] = code }
            }
        case .expired:
            kind = .onboardingCodeExpired
            if let expires = record.codeExpiresAt { data["codeExpiresAt"] = expires }
        case .awaitingCustomer, .addingOrganization:
            return nil
        }
        return LifecycleEvent(kind: kind, tenant: record.intake.tenant, occurredAt: UTCTime.dateTime(now), data: data)
    }

    private static func common(_ record: OnboardingRecord) -> [String: String] {
        ["state": record.state.rawValue, "organizationName": record.intake.officeName, "displayName": record.intake.displayName]
    }
}

extension OnboardingEvents {
    /// An observer for ``OnboardingWorker``: when the worker carries a tenant to an outcome
    /// (onboarded, failed, expired), the tenant's record is read and the matching event recorded
    /// in `events` (durable before the worker goes on). Nothing when `events` is nil. A failure to
    /// read or record is logged.
    public static func workerObserver(store: OnboardingStore, events: (any LifecycleEventSink)?, logger: Logger,
                                      clock: @escaping @Sendable () -> Int64 = { UTCTime.now() })
        -> @Sendable (OnboardingWorker.Event) -> Void
    {
        guard let events else { return { _ in } }
        return { event in
            guard case .progressed(let tenant, let state) = event, state != .awaitingCustomer, state != .addingOrganization else { return }
            do {
                guard let record = try store.load(tenant), let lifecycle = afterStep(record, now: clock()) else { return }
                try events.record(lifecycle)
            } catch {
                logger.error("cannot record the onboarding event of \(tenant) (\(state.rawValue)): \(error)")
            }
        }
    }
}
