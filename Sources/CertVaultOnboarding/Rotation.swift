public import CertVaultCore
internal import CertVaultIssuer
internal import CertVaultPolicy
public import CertVaultVault
internal import CertVaultVB365
internal import Foundation

/// Certificate rotation: a new generation under the tenant's policy, pushed to VB365 with
/// `PUT /vN/Organizations/{id}`; with `configureApplication` (VB365 registers the certificate in
/// the tenant's Entra application) the customer signs in with a fresh device code first, which
/// pauses and resumes like onboarding. The previous generation stays active until VB365 reports
/// the new certificate, and only then becomes superseded.
extension Onboarding {
    /// Starts a rotation (or carries on the one under way): issues and stores the new
    /// generation, then either gets a device code (`configureApplication`) and pauses, or sends
    /// the PUT at once.
    public func rotate(_ tenant: TenantID, configureApplication: Bool = true) throws -> OnboardingRecord {
        try store.withTenantLock(tenant) {
            guard var record = try store.load(tenant) else {
                throw CertVaultError(.onboardingState, "'\(tenant)' has no onboarding record.", hint: "Only onboarded tenants can be rotated.")
            }
            try checkServer(record)
            guard record.state == .onboarded, let organizationId = record.organizationId else {
                throw CertVaultError(.onboardingState, "'\(tenant)' is not onboarded (state \(record.state.rawValue)); there is nothing to rotate in VB365.",
                                     hint: "Finish its onboarding first ('certvault onboard status \(tenant)').")
            }
            let now = Self.timestamp()
            if var rotation = record.rotation, [.awaitingCustomer, .updating, .expired].contains(rotation.phase) {
                // Carry on with the generation already issued for it.
                if rotation.phase == .expired || (rotation.configureApplication && codeRanOut(rotation.codeExpiresAt)) {
                    try newRotationCode(&rotation, region: record.intake.region)
                }
                record.rotation = rotation
                try store.save(record)
            } else {
                if let failed = record.rotation, failed.phase == .failed, failed.generation != record.generation,
                   try client.organization(id: organizationId).applicationCertificateThumbprint?.uppercased() == failed.thumbprint.uppercased() {
                    // VB365 took it after all (the refusal was not the last word): record that instead.
                    try completeRotation(&record, failed, try client.organization(id: organizationId))
                    return record
                }
                if let failed = record.rotation, failed.phase == .failed, failed.generation != record.generation {
                    // VB365 never took it: keep it for the record, but not as an active certificate.
                    try withVault { vault in
                        try vault.updateMetadata(tenant: tenant, generation: failed.generation, action: "entry.retire") { metadata in
                            if metadata.status == .active && metadata.vb365OrganizationID == nil { metadata.status = .retired }
                        }
                    }
                }
                let credential = try issuer.issue(IssuanceRequest(tenant: tenant, org: record.intake.displayName, domain: record.intake.officeName))
                let generation = try withVault { vault in
                    try vault.store(tenant: tenant, payload: EntryPayload(credential))
                }
                var rotation = OnboardingRecord.Rotation(phase: .updating, generation: generation, thumbprint: credential.summary.thumbprintSHA1,
                                                         previousGeneration: record.generation, configureApplication: configureApplication,
                                                         started: now, updated: now)
                if configureApplication { try newRotationCode(&rotation, region: record.intake.region) }
                record.rotation = rotation
                record.history.append(.init(at: now, state: record.state, note: "rotation to generation \(generation) started"))
                try store.save(record)
            }
            if record.rotation?.phase == .updating { try pushRotation(&record) }
            return record
        }
    }

    /// Carries a paused rotation on: checks (or waits for) the customer's sign-in, then sends the PUT.
    public func resumeRotation(_ tenant: TenantID, wait: Wait = .checkOnce) throws -> OnboardingRecord {
        try store.withTenantLock(tenant) {
            guard var record = try store.load(tenant), var rotation = record.rotation else {
                throw CertVaultError(.onboardingState, "'\(tenant)' has no rotation under way.", hint: "Start one with 'certvault rotate \(tenant)'.")
            }
            try checkServer(record)
            let deadline: Date? = if case .poll(let seconds) = wait { Date().addingTimeInterval(seconds) } else { nil }
            while rotation.phase == .awaitingCustomer {
                if codeRanOut(rotation.codeExpiresAt) {
                    rotation.phase = .expired
                    rotation.updated = Self.timestamp()
                    record.rotation = rotation
                    try store.save(record)
                    return record
                }
                let signedIn: Bool
                if case .assumeSignedIn = wait { signedIn = true } else { signedIn = try client.checkDeviceCode(rotation.userCode ?? "") }
                if signedIn {
                    rotation.phase = .updating
                    record.rotation = rotation
                    try store.save(record)
                    break
                }
                guard let deadline, Date() < deadline else { return record }
                Thread.sleep(forTimeInterval: min(pollInterval, max(0.05, deadline.timeIntervalSinceNow)))
            }
            if record.rotation?.phase == .updating { try pushRotation(&record) }
            return record
        }
    }

    /// Tenants whose certificate VB365 uses ends within the policy's renewal window (or `days`).
    public func dueForRotation(withinDays days: Int? = nil) throws -> [(record: OnboardingRecord, notAfter: String)] {
        try withVault { try Self.dueForRotation(vault: $0, store: store, withinDays: days ?? issuer.policy.renewBeforeDays) }
    }

    /// The same without a VB365 connection (for `rotate --due --dry-run`).
    public static func dueForRotation(vault: Vault, store: OnboardingStore, withinDays days: Int) throws -> [(record: OnboardingRecord, notAfter: String)] {
        let limit = UTCTime.dateTime(UTCTime.now() + Int64(days) * 86_400)
        let expiry = Dictionary(try vault.list().map { ("\($0.tenant.rawValue)#\($0.generation)", $0.metadata.notAfter) }, uniquingKeysWith: { a, _ in a })
        return try store.all().compactMap { record in
            guard record.state == .onboarded, let generation = record.generation,
                  let notAfter = expiry["\(record.intake.tenant.rawValue)#\(generation)"], notAfter <= limit else { return nil }
            return (record, notAfter)
        }
    }

    private func newRotationCode(_ rotation: inout OnboardingRecord.Rotation, region: VB365Region) throws {
        let code = try client.createDeviceCode(region: region)
        rotation.userCode = code.userCode
        rotation.verificationUrl = code.verificationUrl
        rotation.codeExpiresAt = UTCTime.dateTime(UTCTime.now() + Int64(code.expiresIn))
        rotation.phase = .awaitingCustomer
        rotation.failure = nil
        rotation.updated = Self.timestamp()
    }

    /// Sends the PUT and confirms through GET that VB365 reports the new certificate. Looks
    /// first, so that a PUT that went through before (its answer lost) is not sent again with a
    /// user code that works once.
    private func pushRotation(_ record: inout OnboardingRecord) throws {
        guard var rotation = record.rotation, let organizationId = record.organizationId else { return }
        let tenant = record.intake.tenant
        func reportsNew() throws -> VB365Organization? {
            let organization = try client.organization(id: organizationId)
            return organization.applicationCertificateThumbprint?.uppercased() == rotation.thumbprint.uppercased() ? organization : nil
        }
        if let done = try reportsNew() {
            try completeRotation(&record, rotation, done)
            return
        }
        let (_, payload, _) = try withVault {
            try $0.readOut(tenant: tenant, generation: rotation.generation, purpose: "rotation: PUT Organizations")
        }
        let intake = record.intake
        var body = VB365Organization(officeName: intake.officeName, type: .office365, region: intake.region)
        body.isExchangeOnline = intake.exchange
        body.isSharePointOnline = intake.sharePoint
        body.isTeamsOnline = intake.teams
        body.isTeamsChatsOnline = intake.teamsChats
        if rotation.configureApplication {
            body.configureApplication = true
            body.userCode = rotation.userCode
        }
        let settings = VB365ConnectionSettings(useApplicationOnlyAuth: true, officeOrganizationName: intake.officeName,
                                               applicationId: record.applicationId, applicationCertificate: Base64.encode(payload.pfx),
                                               applicationCertificatePassword: VB365Secret(payload.password))
        body.exchangeOnlineSettings = settings
        body.sharePointOnlineSettings = settings
        do {
            try client.updateOrganization(id: organizationId, body)
        } catch let error as VB365Error {
            // Whatever the answer, VB365 may have applied it: look before calling it failed.
            if let done = try? reportsNew() {
                try completeRotation(&record, rotation, done)
                return
            }
            rotation.failure = failure(error)
            rotation.updated = Self.timestamp()
            if error.outcomeUnknown || error.status == nil {
                // Unconfirmed: stays `updating`; the next `rotate --resume` looks first.
                record.rotation = rotation
                try store.save(record)
                throw error
            }
            rotation.phase = .failed
            record.rotation = rotation
            record.history.append(.init(at: Self.timestamp(), state: record.state,
                                        note: "rotation to generation \(rotation.generation) refused; generation \(record.generation ?? 0) stays active"))
            try store.save(record)
            return
        }
        // Confirm: VB365 must report the new certificate before the old one is superseded.
        guard let organization = try reportsNew() else {
            rotation.phase = .failed
            rotation.failure = OnboardingRecord.Failure(
                reason: "After the update VB365 does not report the new certificate \(rotation.thumbprint).",
                hint: "Check the organization in VB365; the previous generation stays active.", status: nil, serverMessage: nil, errorCode: nil,
                at: Self.timestamp())
            record.rotation = rotation
            try store.save(record)
            return
        }
        try completeRotation(&record, rotation, organization)
    }

    private func completeRotation(_ record: inout OnboardingRecord, _ rotation: OnboardingRecord.Rotation, _ organization: VB365Organization) throws {
        var rotation = rotation
        let tenant = record.intake.tenant
        let intake = record.intake
        guard let organizationId = record.organizationId else { return }
        try withVault { vault in
            try vault.updateMetadata(tenant: tenant, generation: rotation.generation, action: "entry.rotated-in") { metadata in
                metadata.vb365OrganizationID = organizationId
                metadata.applicationID = organization.applicationId ?? record.applicationId
                metadata.msid = organization.msid ?? record.msid
                metadata.region = intake.region.rawValue
                metadata.onboardingState = OnboardingRecord.State.onboarded.rawValue
            }
            if let previous = rotation.previousGeneration, previous != rotation.generation {
                try vault.updateMetadata(tenant: tenant, generation: previous, action: "entry.superseded") { metadata in
                    if metadata.status == .active { metadata.status = .superseded }
                }
            }
        }
        rotation.phase = .done
        rotation.failure = nil
        rotation.updated = Self.timestamp()
        record.rotation = rotation
        record.generation = rotation.generation
        record.thumbprint = rotation.thumbprint
        record.reportedThumbprint = organization.applicationCertificateThumbprint
        record.applicationId = organization.applicationId ?? record.applicationId
        record.history.append(.init(at: Self.timestamp(), state: record.state,
                                    note: "VB365 uses generation \(rotation.generation); generation \(rotation.previousGeneration ?? 0) superseded"))
        record.updated = Self.timestamp()
        try store.save(record)
    }
}
