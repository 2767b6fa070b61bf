public import CertVaultCore

/// Something that happened to a tenant's onboarding or certificate that people outside certvault
/// want to hear about: the payload of webhooks (and of anything else that reports events).
///
/// An event never holds a secret: no password, no PFX, no private key, no token, no invitation
/// link. Its ``id`` is unique and stays the same across delivery attempts, so receivers can
/// de-duplicate (delivery is at least once).
public struct LifecycleEvent: Codable, Sendable, Hashable {
    /// What happened. The raw values are the `type` field of the webhook's JSON.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// A device code is out for the customer (onboarding or renewal sign-in).
        case onboardingCodeIssued = "onboarding.code_issued"
        /// VB365 has the organization.
        case onboardingCompleted = "onboarding.completed"
        /// VB365 refused the organization.
        case onboardingFailed = "onboarding.failed"
        /// The device code ran out before the customer signed in.
        case onboardingCodeExpired = "onboarding.code_expired"
        /// The active certificate entered its renewal window.
        case certificateRenewalDue = "certificate.renewal_due"
        /// A reminder `daysLeft` days before expiry.
        case certificateRenewalReminder = "certificate.renewal_reminder"
        /// A rotation finished: VB365 uses the new certificate.
        case rotationCompleted = "rotation.completed"
        /// VB365 or a rule refused a rotation.
        case rotationRefused = "rotation.refused"
        /// The active certificate is past its `notAfter`.
        case certificateExpired = "certificate.expired"
        /// VB365 disagrees with the vault (another certificate, a missing organization).
        case driftDetected = "vb365.drift_detected"
        /// A sample sent by `certvault webhook test`.
        case test = "test"
    }

    /// Unique per event (random, 128 bits, hex), kept across retries.
    public var id: String
    public var kind: Kind
    /// The tenant, when the event is about one.
    public var tenant: TenantID?
    /// When it happened, ISO 8601 UTC.
    public var occurredAt: String
    /// Facts about the event, none secret: `generation`, `thumbprint`, `notAfter`, `daysLeft`,
    /// `organizationId`, `state`, `reason`, `hint`...
    public var data: [String: String]

    public init(id: String? = nil, kind: Kind, tenant: TenantID?, occurredAt: String, data: [String: String] = [:]) {
        self.id = id ?? Hex.lower(SecretBytes.random(count: 16).withUnsafeBytes { Array($0) })
        self.kind = kind
        self.tenant = tenant
        self.occurredAt = occurredAt
        self.data = data
    }

    enum CodingKeys: String, CodingKey {
        case id
        case kind = "type"
        case tenant
        case occurredAt
        case data
    }
}

/// Where events go. `record` returns once the event is durable (the webhook outbox has it on
/// disk), so an event recorded before a crash is still delivered after it. It must not block for
/// long (no network): delivery happens elsewhere.
public protocol LifecycleEventSink: Sendable {
    func record(_ event: LifecycleEvent) throws
}

/// A sink that drops every event (no webhooks configured).
public struct DiscardingEventSink: LifecycleEventSink {
    public init() {}
    public func record(_ event: LifecycleEvent) throws {}
}
