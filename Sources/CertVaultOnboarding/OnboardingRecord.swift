public import CertVaultCore
public import CertVaultVB365

/// Where one tenant's onboarding stands. Persisted as JSON (no secrets in it) after every step.
public struct OnboardingRecord: Codable, Sendable, Hashable {
    /// The states, in the order a tenant normally passes them.
    public enum State: String, Codable, Sendable, CaseIterable {
        /// The device code is out; the customer's Global Administrator has to sign in with it.
        case awaitingCustomer = "awaiting-customer"
        /// The customer signed in; `POST Organizations` is being (or was perhaps) sent. A record
        /// left in this state after a crash is reconciled through `GET Organizations` first.
        case addingOrganization = "adding-organization"
        /// VB365 has the organization; its ids are in the vault.
        case onboarded
        /// The device code ran out before the organization was added: `onboard renew-code`.
        case expired
        /// VB365 refused; `failure` says why and what to do.
        case failed

        /// Whether the workflow has nothing more to do on its own.
        public var isFinal: Bool { self == .onboarded }
    }

    /// What the provider gave for the tenant.
    public struct Intake: Codable, Sendable, Hashable {
        public var tenant: TenantID
        public var displayName: String
        /// The Microsoft 365 organization name, e.g. `contoso.onmicrosoft.com`.
        public var officeName: String
        public var region: VB365Region
        public var exchange: Bool
        public var sharePoint: Bool
        public var teams: Bool
        public var teamsChats: Bool
        /// The Entra application VB365 creates.
        public var applicationName: String
        /// The Microsoft tenant id, when the provider knows it (lets v8 look up by `msid`).
        public var msid: String?
        /// Free-form provider fields, kept as they are.
        public var providerFields: [String: String]

        public init(tenant: TenantID, displayName: String, officeName: String, region: VB365Region = .worldwide,
                    exchange: Bool = true, sharePoint: Bool = true, teams: Bool = true, teamsChats: Bool = false,
                    applicationName: String? = nil, msid: String? = nil, providerFields: [String: String] = [:]) {
            self.tenant = tenant
            self.displayName = displayName
            self.officeName = officeName
            self.region = region
            self.exchange = exchange
            self.sharePoint = sharePoint
            self.teams = teams
            self.teamsChats = teamsChats
            self.applicationName = applicationName ?? "certvault \(tenant.rawValue)"
            self.msid = msid
            self.providerFields = providerFields
        }

        /// Checks what VB365 would refuse anyway, before anything is sent.
        public func validate() throws {
            let name = officeName.lowercased()
            guard !name.isEmpty, name.count <= 253, name.contains("."),
                  name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) else {
                throw CertVaultError(.invalidInput, "'\(officeName)' is not a Microsoft 365 organization name.",
                                     hint: "Give the tenant's initial domain, such as contoso.onmicrosoft.com.")
            }
            try ServiceRule.check(exchange: exchange, sharePoint: sharePoint, teams: teams, teamsChats: teamsChats, tenant: tenant)
            guard !applicationName.isEmpty, applicationName.count <= 120 else {
                throw CertVaultError(.invalidInput, "The application name must be 1 to 120 characters.")
            }
            guard !displayName.isEmpty, displayName.count <= 256 else {
                throw CertVaultError(.invalidInput, "The display name must be 1 to 256 characters.")
            }
        }
    }

    /// Why the last step failed.
    public struct Failure: Codable, Sendable, Hashable {
        public var reason: String
        public var hint: String?
        public var status: Int?
        public var serverMessage: String?
        public var errorCode: String?
        public var at: String
    }

    /// One state change, for `status` and for auditors.
    public struct Event: Codable, Sendable, Hashable {
        public var at: String
        public var state: State
        public var note: String
    }

    /// A certificate rotation under way or last done: a new generation pushed to VB365 with
    /// `PUT /vN/Organizations/{id}`.
    public struct Rotation: Codable, Sendable, Hashable {
        public enum Phase: String, Codable, Sendable {
            /// The new certificate waits for the customer's sign-in (`configureApplication`).
            case awaitingCustomer = "awaiting-customer"
            /// The PUT is being (or was perhaps) sent.
            case updating
            /// VB365 reports the new certificate; the old generation is superseded.
            case done
            /// VB365 refused; the old generation is still the active one.
            case failed
            /// The code ran out: `rotate TENANT` again gets a new one (the new generation is kept).
            case expired
        }
        public var phase: Phase
        public var generation: Int
        public var thumbprint: String
        /// The generation it replaces.
        public var previousGeneration: Int?
        public var configureApplication: Bool
        public var userCode: String?
        public var verificationUrl: String?
        public var codeExpiresAt: String?
        public var failure: Failure?
        public var started: String
        public var updated: String
    }

    public var intake: Intake
    public var state: State
    /// The last rotation, if any.
    public var rotation: Rotation?
    public var serverURL: String
    public var apiVersion: String?
    public var userCode: String?
    public var verificationUrl: String?
    public var message: String?
    /// When the device code runs out, ISO 8601 UTC.
    public var codeExpiresAt: String?
    /// The vault generation whose certificate onboarding uses. Chosen again each time the add
    /// is sent (the newest active generation valid beyond the renewal window), so from
    /// `adding-organization` on it is the one sent; before that, the one ready for it.
    public var generation: Int?
    /// Its thumbprint (ours).
    public var thumbprint: String?
    /// What VB365 reports.
    public var organizationId: String?
    public var applicationId: String?
    public var msid: String?
    public var reportedThumbprint: String?
    /// The name VB365 gave the organization, when it is not the one given in the intake.
    public var vb365OrganizationName: String?
    /// How many times `POST Organizations` was sent for this tenant.
    public var addAttempts: Int
    /// When it was last sent, ISO 8601 UTC.
    public var lastAddAttempt: String?
    public var failure: Failure?
    public var created: String
    public var updated: String
    public var history: [Event]
    /// Where the renewal of the certificate VB365 uses stands, and which reminders went out
    /// (written by the ``RenewalScheduler``); `nil` in records made before it existed.
    public var renewal: RenewalState?
    /// Whether rotations of this tenant need the customer (VB365's `configureApplication`, the
    /// default) or run by themselves because the provider manages the Entra application
    /// (`false`). `nil`: the choice of the last rotation, else `true`. See docs/renewal.md.
    public var renewalConfiguresApplication: Bool?

    /// Whether a renewal of this tenant needs the customer's sign-in (see
    /// ``renewalConfiguresApplication``).
    public var renewalNeedsCustomer: Bool {
        renewalConfiguresApplication ?? rotation?.configureApplication ?? true
    }

    public init(intake: Intake, serverURL: String, now: String) {
        self.intake = intake
        self.state = .awaitingCustomer
        self.serverURL = serverURL
        self.addAttempts = 0
        self.created = now
        self.updated = now
        self.history = []
    }

    /// Moves to a state and notes why.
    public mutating func move(to state: State, _ note: String, at now: String) {
        self.state = state
        updated = now
        history.append(Event(at: now, state: state, note: note))
        if history.count > 100 { history.removeFirst(history.count - 100) }
    }
}
