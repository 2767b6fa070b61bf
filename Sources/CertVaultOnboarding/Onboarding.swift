public import CertVaultCore
public import CertVaultIssuer
internal import CertVaultPolicy
public import CertVaultVault
public import CertVaultVB365
public import Logging
internal import Foundation

extension CertVaultError.Code {
    /// The tenant's onboarding is not in a state that allows the step asked for.
    public static let onboardingState = CertVaultError.Code("onboarding-state")
}

/// The onboarding workflow: device code, pause while the customer signs in, then
/// `POST Organizations` with the tenant's certificate from the vault, and the ids VB365 returns
/// written back into the vault. Every step is persisted before and after it runs, so the
/// workflow survives restarts; an add whose outcome is unknown is reconciled through
/// `GET Organizations` before anything is sent again.
///
/// Calls block (network, vault, key generation); async callers run them on their own threads.
public final class Onboarding: @unchecked Sendable {
    // Safety: `vault` is used only under `vaultLock`; everything else is immutable or Sendable.
    public let client: VB365Client
    public let store: OnboardingStore
    private let vault: Vault
    private let vaultLock = NSLock()
    let issuer: Issuer
    private let logger: Logger
    /// Seconds between `DeviceCode/check` polls.
    public var pollInterval: Double = 5

    public init(client: VB365Client, vault: Vault, store: OnboardingStore, issuer: Issuer, logger: Logger) {
        self.client = client
        self.vault = vault
        self.store = store
        self.issuer = issuer
        self.logger = logger
    }

    private static func now() -> String { UTCTime.dateTime(UTCTime.now()) }
    static func timestamp() -> String { now() }

    func withVault<T>(_ body: (Vault) throws -> T) rethrows -> T {
        try vaultLock.withLock { try body(vault) }
    }

    // MARK: Start

    /// Gets a device code for the tenant and persists the record in `awaiting-customer`.
    ///
    /// - Throws: `onboarding-state` when the tenant's onboarding is already under way or done.
    public func start(_ intake: OnboardingRecord.Intake) throws -> OnboardingRecord {
        try intake.validate()
        return try store.withTenantLock(intake.tenant) {
            if let existing = try store.load(intake.tenant) {
                switch existing.state {
                case .onboarded:
                    throw CertVaultError(.onboardingState, "'\(intake.tenant)' is already onboarded (organization \(existing.organizationId ?? "?")).",
                                         hint: "To give VB365 a new certificate use 'certvault rotate \(intake.tenant)'.")
                case .awaitingCustomer, .addingOrganization:
                    throw CertVaultError(.onboardingState, "The onboarding of '\(intake.tenant)' is already under way (\(existing.state.rawValue)).",
                                         hint: "See 'certvault onboard status \(intake.tenant)'; continue with 'onboard wait' or 'onboard resume', or get a new code with 'onboard renew-code'.")
                case .expired, .failed:
                    break  // start again from scratch
                }
            }
            var record = OnboardingRecord(intake: intake, serverURL: client.configuration.serverURL, now: Self.now())
            record.apiVersion = try client.apiVersion().rawValue
            try issueCode(&record, note: "device code requested")
            return record
        }
    }

    private func issueCode(_ record: inout OnboardingRecord, note: String) throws {
        let code = try client.createDeviceCode(region: record.intake.region)
        record.userCode = code.userCode
        record.verificationUrl = code.verificationUrl
        record.message = code.message
        record.codeExpiresAt = UTCTime.dateTime(UTCTime.now() + Int64(code.expiresIn))
        record.failure = nil
        record.move(to: .awaitingCustomer, "\(note); the customer's Global Administrator must sign in", at: Self.now())
        try store.save(record)
        logger.info("\(record.intake.tenant): user code issued, valid for \(code.expiresIn) s")
    }

    /// A new device code for a tenant whose code expired (or whose add failed).
    public func renewCode(_ tenant: TenantID) throws -> OnboardingRecord {
        try store.withTenantLock(tenant) {
            guard var record = try store.load(tenant) else { throw notStarted(tenant) }
            try checkServer(record)
            switch record.state {
            case .onboarded:
                throw CertVaultError(.onboardingState, "'\(tenant)' is already onboarded; it needs no code.")
            case .addingOrganization:
                throw CertVaultError(.onboardingState, "'\(tenant)' may already have been added (state adding-organization).",
                                     hint: "Run 'certvault onboard resume \(tenant)' first: it looks the organization up in VB365.")
            case .awaitingCustomer, .expired, .failed:
                try issueCode(&record, note: "new device code requested")
                return record
            }
        }
    }

    // MARK: Certificate

    /// The tenant's certificate for onboarding: the newest active generation in the vault that
    /// is valid beyond the policy's renewal window, or a new one issued and stored now.
    ///
    /// - Returns: the generation and its thumbprint.
    public func ensureCertificate(_ intake: OnboardingRecord.Intake) throws -> (generation: Int, thumbprint: String) {
        let limit = UTCTime.dateTime(UTCTime.now() + Int64(issuer.policy.renewBeforeDays) * 86_400)
        let existing = try withVault { vault in
            try vault.list(tenant: intake.tenant).filter { $0.metadata.status == .active && $0.metadata.notAfter > limit }
                .max { $0.generation < $1.generation }
        }
        if let existing {
            logger.info("\(intake.tenant): using vault generation \(existing.generation)")
            return (existing.generation, existing.metadata.thumbprintSHA1)
        }
        let credential = try issuer.issue(IssuanceRequest(tenant: intake.tenant, org: intake.displayName, domain: intake.officeName))
        let generation = try withVault { try $0.store(tenant: intake.tenant, payload: EntryPayload(credential)) }
        logger.info("\(intake.tenant): issued and stored generation \(generation)")
        return (generation, credential.summary.thumbprintSHA1)
    }

    /// ``start(_:)`` with ``ensureCertificate(_:)`` running beside it on another thread, so that
    /// nobody waits for key generation: `announce` gets the record as soon as the device code is
    /// there; the call returns once the certificate is issued (or found) and noted in the record.
    public func startIssuingMeanwhile(_ intake: OnboardingRecord.Intake,
                                      announce: (OnboardingRecord) -> Void = { _ in }) throws -> OnboardingRecord {
        try checkCanStart(intake)  // before a certificate is issued for a tenant that cannot start
        let certificate = Outcome<(generation: Int, thumbprint: String)>()
        Thread.detachNewThread { certificate.finish(Result { try self.ensureCertificate(intake) }) }
        let record: OnboardingRecord
        do {
            record = try start(intake)
        } catch {
            _ = certificate.wait()  // a certificate issued meanwhile stays in the vault and is used next time
            throw error
        }
        announce(record)
        let (generation, thumbprint) = try certificate.wait().get()
        try attachCertificate(intake.tenant, generation: generation, thumbprint: thumbprint)
        return try store.load(intake.tenant) ?? record
    }

    /// Notes the certificate in the record (after ``ensureCertificate(_:)`` ran beside ``start(_:)``).
    public func attachCertificate(_ tenant: TenantID, generation: Int, thumbprint: String) throws {
        try store.withTenantLock(tenant) {
            guard var record = try store.load(tenant) else { throw notStarted(tenant) }
            guard record.generation == nil || record.state == .awaitingCustomer else { return }
            record.generation = generation
            record.thumbprint = thumbprint
            record.updated = Self.now()
            try store.save(record)
        }
    }

    // MARK: Resume

    /// How long ``resume(_:waitUpTo:)`` polls for the customer's sign-in.
    public enum Wait: Sendable {
        /// Check once.
        case checkOnce
        /// Poll until signed in, or until the code expires or this many seconds pass.
        case poll(seconds: Double)
        /// Do not ask VB365: the caller knows the customer signed in.
        case assumeSignedIn
    }

    /// Carries the workflow as far as it can go: checks (or waits for) the customer's sign-in,
    /// adds the organization, reconciles an add left unfinished. Holds the tenant's lock, so
    /// two resumes of one tenant produce one `POST`.
    public func resume(_ tenant: TenantID, wait: Wait = .checkOnce) throws -> OnboardingRecord {
        try store.withTenantLock(tenant) { try resumeHolding(tenant, wait: wait, lease: nil) }
    }

    /// ``resume(_:wait:)`` when nobody else works on the tenant; nil (nothing done) when another
    /// process or replica holds its lock or lease. The service's worker calls this.
    ///
    /// A lease taken over from a holder that never released it (it died, or stalled past its
    /// expiry) while the record says an add may have been in flight (`adding-organization`) is
    /// reconciled through `GET Organizations` before anything is sent again, as every unfinished
    /// add is.
    public func resumeIfFree(_ tenant: TenantID, wait: Wait = .checkOnce) throws -> OnboardingRecord? {
        try store.withTenantLockIfFree(tenant) { lease in try resumeHolding(tenant, wait: wait, lease: lease) }
    }

    private func resumeHolding(_ tenant: TenantID, wait: Wait, lease: Lease?) throws -> OnboardingRecord {
        do {
            guard var record = try store.load(tenant) else { throw notStarted(tenant) }
            if let lease, lease.takenOver, record.state == .addingOrganization {
                let previous = lease.previousHolder ?? "another replica"
                logger.warning("\(tenant): taken over from \(previous) (fence \(lease.fence)) with an add possibly in flight; looking the organization up in VB365 before anything is sent")
            }
            try checkServer(record)
            let deadline: Date? = if case .poll(let seconds) = wait { Date().addingTimeInterval(seconds) } else { nil }
            while true {
                switch record.state {
                case .onboarded, .expired, .failed:
                    return record
                case .addingOrganization:
                    try reconcileThenAdd(&record)
                    return record
                case .awaitingCustomer:
                    if codeExpired(record) {
                        record.move(to: .expired, "the device code ran out before the organization was added", at: Self.now())
                        try store.save(record)
                        return record
                    }
                    var signedIn = false
                    if case .assumeSignedIn = wait {
                        signedIn = true
                    } else {
                        do {
                            signedIn = try checkSignIn(&record)
                        } catch let error as VB365Error where deadline.map({ Date() < $0 }) == true && error.status == nil || error.status.map({ $0 >= 500 || $0 == 429 }) == true {
                            // A network or server hiccup while waiting: keep waiting until the deadline.
                            guard let deadline, Date() < deadline else { throw error }
                            logger.warning("\(tenant): checking the sign-in failed (\(error.error.reason)); trying again")
                        }
                    }
                    if signedIn {
                        try add(&record)
                        return record
                    }
                    guard let deadline, Date() < deadline else { return record }
                    Thread.sleep(forTimeInterval: min(pollInterval, max(0.05, deadline.timeIntervalSinceNow)))
                }
            }
        }
    }

    private func checkSignIn(_ record: inout OnboardingRecord) throws -> Bool {
        guard let code = record.userCode else { return false }
        do {
            return try client.checkDeviceCode(code)
        } catch let error as VB365Error where error.status == 400 {
            // VB365 no longer knows the code: it expired.
            record.failure = failure(error)
            record.move(to: .expired, "VB365 refused the code: \(error.serverMessage ?? "expired")", at: Self.now())
            try store.save(record)
            return false
        }
    }

    private func codeExpired(_ record: OnboardingRecord) -> Bool { codeRanOut(record.codeExpiresAt) }

    /// Whether a code's expiry (ISO 8601 UTC, comparable as text) has passed; no expiry counts as passed.
    func codeRanOut(_ expires: String?) -> Bool {
        guard let expires else { return true }
        return expires <= Self.now()
    }

    /// A record left in `adding-organization`: the POST may have gone through. Look first.
    private func reconcileThenAdd(_ record: inout OnboardingRecord) throws {
        if let found = try findOrganization(record) {
            try finish(&record, found, note: "found in VB365 after an unfinished add")
            return
        }
        if let last = record.lastAddAttempt, let sent = UTCTime.parse(last), UTCTime.now() - sent < Int64(repostGrace) {
            // VB365 may still be creating it: do not send it again yet.
            let allowed = UTCTime.dateTime(sent + Int64(repostGrace.rounded(.up)))
            record.updated = Self.now()
            record.history.append(.init(at: Self.now(), state: .addingOrganization,
                                        note: "not in VB365 yet; the last add was sent less than \(Int(repostGrace)) s ago, so it is not sent again before \(allowed)"))
            try store.save(record)
            throw VB365Error(CertVaultError(.onboardingState, "'\(record.intake.tenant)' is not in VB365 yet, and its add was sent less than \(Int(repostGrace)) s ago (at \(last)).",
                                            hint: "VB365 may still be creating it. Run 'certvault onboard resume \(record.intake.tenant)' again at \(allowed) or later: it looks again before it sends anything, and sends again only from then on."),
                             outcomeUnknown: true)
        }
        if codeExpired(record) {
            record.move(to: .expired, "the organization is not in VB365 and the device code ran out", at: Self.now())
            try store.save(record)
            return
        }
        try add(&record)
    }

    private func add(_ record: inout OnboardingRecord) throws {
        let tenant = record.intake.tenant
        // Chosen now, not at `start`: a generation issued since (the compat re-issue after a
        // refused PFX) is sent, and one retired since is not.
        let (generation, thumbprint) = try ensureCertificate(record.intake)
        if let earlier = record.generation, earlier != generation {
            logger.info("\(tenant): sending vault generation \(generation) instead of \(earlier), chosen at start")
        }
        record.generation = generation
        record.thumbprint = thumbprint
        // Persisted before sending: a crash from here on is reconciled through GET.
        record.addAttempts += 1
        record.lastAddAttempt = Self.now()
        record.move(to: .addingOrganization,
                    "customer signed in; adding the organization with vault generation \(generation) (thumbprint \(thumbprint), attempt \(record.addAttempts))",
                    at: Self.now())
        try store.save(record)

        let (_, payload, _) = try withVault {
            try $0.readOut(tenant: tenant, generation: generation, purpose: "onboarding: POST Organizations")
        }
        let intake = record.intake
        let body = VB365Organization.newOffice365(
            officeName: intake.officeName, region: intake.region, userCode: record.userCode ?? "", applicationName: intake.applicationName,
            certificateBase64: Base64.encode(payload.pfx), password: payload.password,
            exchange: intake.exchange, sharePoint: intake.sharePoint, teams: intake.teams, teamsChats: intake.teamsChats)
        do {
            let organization = try client.addOrganization(body)
            try finish(&record, organization, note: "VB365 added the organization")
        } catch let error as VB365Error where error.outcomeUnknown {
            logger.warning("\(tenant): the add ended ambiguously (\(error.error.reason)); looking the organization up before anything else")
            if let found = try findOrganization(record) {
                try finish(&record, found, note: "found in VB365 after an ambiguous add")
                return
            }
            record.failure = failure(error)
            record.updated = Self.now()
            record.history.append(.init(at: Self.now(), state: .addingOrganization,
                                        note: "the add ended ambiguously and the organization is not in VB365 (yet); resume looks again"))
            try store.save(record)
            throw error
        } catch let error as VB365Error where error.status != nil {
            record.failure = failure(error, tenant: tenant)
            let message = error.serverMessage ?? ""
            let status = error.status ?? 0
            if [401, 403, 404, 408, 429].contains(status) || message.localizedCaseInsensitiveContains("not been used to sign in") {
                // VB365 did nothing with the code: the tenant can go on with it.
                record.move(to: .awaitingCustomer, "the add was not carried out (HTTP \(status)): \(message)", at: Self.now())
                try store.save(record)
                throw error
            }
            if message.localizedCaseInsensitiveContains("expired") {
                record.move(to: .expired, "VB365: \(message)", at: Self.now())
            } else if message.localizedCaseInsensitiveContains("already been added"), let found = try findOrganization(record) {
                try finish(&record, found, note: "VB365 already had the organization")
                return
            } else {
                record.move(to: .failed, "VB365 refused the organization: \(message)", at: Self.now())
            }
            try store.save(record)
        }
    }

    /// Looks the tenant's organization up: by `msid` on v8 when known, by name otherwise.
    /// Looks the tenant's organization up: by `msid` on v8 when known, and by name (a wrong
    /// `msid` in the intake must not hide it). Fills in the details with `GET Organizations/{id}`
    /// when the list leaves out the certificate thumbprint.
    public func findOrganization(_ record: OnboardingRecord) throws -> VB365Organization? {
        let name = record.intake.officeName.lowercased()
        var found: VB365Organization?
        if let msid = record.intake.msid ?? record.msid, try client.apiVersion().hasMicrosoftTenantID {
            found = try client.organizations(msid: msid).first
        }
        if found == nil {
            let names = Set([name, record.vb365OrganizationName?.lowercased()].compactMap { $0 })
            found = try client.organizations().first { names.contains(($0.officeName ?? $0.name ?? "").lowercased()) }
        }
        if let organization = found, organization.applicationCertificateThumbprint == nil, let id = organization.id {
            found = try client.organization(id: id)
        }
        return found
    }

    private func finish(_ record: inout OnboardingRecord, _ organization: VB365Organization, note: String) throws {
        record.organizationId = organization.id
        record.applicationId = organization.applicationId
        record.msid = organization.msid
        record.reportedThumbprint = organization.applicationCertificateThumbprint
        if let named = organization.officeName ?? organization.name, named.lowercased() != record.intake.officeName.lowercased() {
            // VB365 added it under another name: keep that name, and say so.
            record.vb365OrganizationName = named
            let note = "VB365 added the organization as '\(named)', not as '\(record.intake.officeName)' given in the intake"
            logger.warning("\(record.intake.tenant): \(note)")
            record.history.append(.init(at: Self.now(), state: record.state, note: note))
        }
        if let reported = organization.applicationCertificateThumbprint, let ours = record.thumbprint,
           reported.uppercased() != ours.uppercased(),
           let adopted = try withVault({ vault in
               try vault.generations(of: record.intake.tenant).first { try vault.summary(tenant: record.intake.tenant, generation: $0).metadata.thumbprintSHA1.uppercased() == reported.uppercased() }
           }) {
            // VB365 has one of our own other generations (issued between two attempts): adopt it.
            logger.info("\(record.intake.tenant): VB365 uses vault generation \(adopted), not \(record.generation ?? 0); recording that one")
            record.generation = adopted
            record.thumbprint = reported.uppercased()
        }
        if let reported = organization.applicationCertificateThumbprint, let ours = record.thumbprint,
           reported.uppercased() != ours.uppercased() {
            record.failure = OnboardingRecord.Failure(
                reason: "VB365 reports certificate \(reported) for the organization, but the vault's generation \(record.generation ?? 0) is \(ours).",
                hint: "Someone else added this organization with a certificate certvault does not have. Check it in VB365; to give it ours, rotate once it is recorded, or remove it in VB365 and 'onboard start' again.",
                status: nil, serverMessage: nil, errorCode: nil, at: Self.now())
            record.move(to: .failed, "thumbprint mismatch", at: Self.now())
            try store.save(record)
            return
        }
        if let generation = record.generation {
            try withVault { vault in
                try vault.updateMetadata(tenant: record.intake.tenant, generation: generation, action: "entry.onboarded") { metadata in
                    metadata.vb365OrganizationID = organization.id
                    metadata.applicationID = organization.applicationId
                    metadata.msid = organization.msid
                    metadata.region = record.intake.region.rawValue
                    metadata.onboardingState = OnboardingRecord.State.onboarded.rawValue
                }
            }
        }
        record.failure = nil
        record.move(to: .onboarded, note, at: Self.now())
        try store.save(record)
        logger.info("\(record.intake.tenant): onboarded as organization \(organization.id ?? "?")")
    }

    func failure(_ error: VB365Error, tenant: TenantID? = nil) -> OnboardingRecord.Failure {
        var hint = error.error.hint
        let message = error.serverMessage ?? ""
        let name = tenant?.rawValue ?? "TENANT"
        if message.contains("password is not correct") {
            hint = "VB365 could not open the PFX. If it runs on Windows Server 2016, issue a certificate with the compat PKCS#12 profile "
                + "(3DES): 'certvault issue \(name)' with the built-in policy, or --policy FILE with [pkcs12] profile = \"compat\"; then "
                + "'certvault onboard renew-code \(name)' and 'certvault onboard wait \(name)': the add sends the newest active generation."
        } else if message.localizedCaseInsensitiveContains("region") {
            hint = "The region given for the tenant does not match its Microsoft cloud; fix it in the intake and start again."
        } else if message.localizedCaseInsensitiveContains("expired") {
            hint = "Get a new code with 'certvault onboard renew-code' and hand it to the customer."
        }
        return OnboardingRecord.Failure(reason: error.error.reason, hint: hint, status: error.status, serverMessage: error.serverMessage,
                                        errorCode: error.errorCode, at: Self.now())
    }

    /// Seconds after an unconfirmed add during which it is not sent again (VB365 may still be
    /// creating the organization).
    public var repostGrace: Double = 180

    /// Refuses to go on against another server than the one the tenant's code came from.
    func checkServer(_ record: OnboardingRecord) throws {
        func normal(_ url: String) -> String {
            var text = url.lowercased()
            while text.hasSuffix("/") { text.removeLast() }
            for version in VB365APIVersion.allCases where text.hasSuffix("/" + version.rawValue) { text.removeLast(version.rawValue.count + 1) }
            return text
        }
        guard normal(record.serverURL) == normal(client.configuration.serverURL) else {
            throw CertVaultError(.onboardingState, "'\(record.intake.tenant)' is being onboarded on \(record.serverURL), not \(client.configuration.serverURL).",
                                 hint: "Give --url \(record.serverURL) (or unset CERTVAULT_VB365_URL) to go on with it.")
        }
    }

    /// Checks, without changing anything, that `start` may run for the tenant (so that a
    /// certificate is not issued for a tenant that cannot start).
    public func checkCanStart(_ intake: OnboardingRecord.Intake) throws {
        try intake.validate()
        if let existing = try store.load(intake.tenant), existing.state != .expired && existing.state != .failed {
            throw CertVaultError(.onboardingState, "'\(intake.tenant)' is \(existing.state.rawValue) already.",
                                 hint: existing.state == .onboarded ? "To give VB365 a new certificate use 'certvault rotate \(intake.tenant)'."
                                     : "See 'certvault onboard status \(intake.tenant)'; continue with 'onboard wait' or 'onboard resume', or 'onboard renew-code'.")
        }
    }

    private func notStarted(_ tenant: TenantID) -> CertVaultError {
        CertVaultError(.onboardingState, "'\(tenant)' has no onboarding under way.", hint: "Start it with 'certvault onboard start \(tenant) ...'.")
    }
}

/// The result of work on another thread, waited for once.
private final class Outcome<Value>: @unchecked Sendable {
    // Safety: `result` is written once under `lock` before `done` is signalled, and read after.
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<Value, any Error>?

    func finish(_ result: Result<Value, any Error>) {
        lock.withLock { self.result = result }
        done.signal()
    }

    func wait() -> Result<Value, any Error> {
        done.wait()
        return lock.withLock { result! }
    }
}
