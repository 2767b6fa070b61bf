/// Where the renewal of a tenant's certificate stands, as the ``RenewalScheduler`` last saw it.
/// Kept in the tenant's onboarding record (``OnboardingRecord/renewal``), so the reminders that
/// went out survive a restart: the record is replaced atomically, and a reminder is marked sent
/// only after its event was recorded.
///
/// Holds no secret: no password, no certificate, no invitation link (only its id).
public struct RenewalState: Codable, Sendable, Hashable {
    /// The renewal states, as the tenant view and `certvault_renewal_tenants{state}` show them.
    public enum State: String, Codable, Sendable, CaseIterable {
        /// The certificate VB365 uses is valid beyond the renewal window.
        case current
        /// Inside the renewal window and no rotation is under way yet (without the portal, the
        /// operator starts it: `certvault rotate TENANT`).
        case renewalDue = "renewal-due"
        /// A renewal waits for the customer: a renewal invitation is out, or a rotation's device
        /// code waits for the customer's Global Administrator.
        case awaitingCustomer = "awaiting-customer"
        /// A rotation is being pushed to VB365.
        case rotating
        /// VB365 (or a rule) refused the rotation; the old certificate is still in use.
        case rotationRefused = "rotation-refused"
        /// The certificate VB365 uses is past its `notAfter`: backups of the organization fail.
        case expired
    }

    /// A disagreement between VB365 and the vault, found by the drift check.
    public struct Drift: Codable, Sendable, Hashable {
        public enum Kind: String, Codable, Sendable, CaseIterable {
            /// VB365 uses a certificate whose thumbprint the vault does not hold for the tenant.
            case unknownCertificate = "unknown-certificate"
            /// VB365 uses a certificate the vault holds, but not the generation certvault
            /// recorded as in use (a rotation finished or was undone behind certvault's back).
            case otherGeneration = "other-generation"
            /// The organization certvault onboarded is no longer in VB365.
            case organizationMissing = "organization-missing"
        }
        public var kind: Kind
        /// The organization certvault onboarded.
        public var organizationId: String
        /// The thumbprint VB365 reports (none when the organization is missing).
        public var reportedThumbprint: String?
        /// The thumbprint certvault expects VB365 to use.
        public var expectedThumbprint: String?
        /// When this drift was first seen, ISO 8601 UTC.
        public var detectedAt: String

        public init(kind: Kind, organizationId: String, reportedThumbprint: String?, expectedThumbprint: String?, detectedAt: String) {
            self.kind = kind
            self.organizationId = organizationId
            self.reportedThumbprint = reportedThumbprint
            self.expectedThumbprint = expectedThumbprint
            self.detectedAt = detectedAt
        }

        /// Two drifts are the same when kind and thumbprints agree (one event per distinct drift).
        func sameAs(_ other: Drift?) -> Bool {
            guard let other else { return false }
            return kind == other.kind && organizationId == other.organizationId
                && reportedThumbprint?.uppercased() == other.reportedThumbprint?.uppercased()
        }
    }

    public var state: State
    /// The generation these facts are about (the one VB365 uses). When it changes (a rotation
    /// finished) the reminders start over.
    public var generation: Int
    public var thumbprint: String
    /// Its expiry, ISO 8601 UTC.
    public var notAfter: String
    /// When the certificate entered the renewal window (the due event), ISO 8601 UTC.
    public var dueSince: String?
    /// When the renewal becomes urgent (``RenewalScheduler/Settings/urgentDays`` before
    /// `notAfter`), ISO 8601 UTC; set once due.
    public var urgentAt: String?
    /// The reminder days (of `[renewal] reminder_days`) already sent for this generation, largest first.
    public var remindersSent: [Int]
    /// Whether `certificate.renewal_due` went out for this generation.
    public var dueReported: Bool
    /// Whether `certificate.expired` went out for this generation.
    public var expiredReported: Bool
    /// The renewal invitation created for the customer, by id (never the link).
    public var invitationId: String?
    /// The generation of the last rotation whose outcome was reported (rotation.completed/refused).
    public var rotationReported: Int?
    /// The generation of the rotation the scheduler started by itself for this renewal (a
    /// provider-managed application); a refusal of it is not retried by the scheduler.
    public var automaticRotation: Int?
    /// What VB365 disagrees about, when the last drift check found something.
    public var drift: Drift?
    /// The next thing to do, in words (for the tenant view and the dashboard).
    public var nextStep: String?

    public init(state: State, generation: Int, thumbprint: String, notAfter: String) {
        self.state = state
        self.generation = generation
        self.thumbprint = thumbprint
        self.notAfter = notAfter
        self.remindersSent = []
        self.dueReported = false
        self.expiredReported = false
    }
}
